import sys

from bench import interrupts

interrupts.install()  # first: a SIGTERM during the imports below must stop cleanly too
try:
    from bench.cli import main

    code = main()
except KeyboardInterrupt:  # main reports an interrupt itself; this is one before it ran
    print("interrupted", file=sys.stderr)
    code = 130
interrupts.forget_handled_interrupt()  # every interrupt that reached here was handled
raise SystemExit(code)
