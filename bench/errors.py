"""One exception type for user mistakes, so the CLI can print them without a traceback."""


class BenchError(Exception):
    """A problem the user can fix (bad config, missing file, unknown name).

    The message must name the file, key or value at fault. The CLI prints it and exits 2.
    """
