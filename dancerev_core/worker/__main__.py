import sys

if "--warm" in sys.argv[1:]:
    from .warm import serve
else:
    from .run import serve

serve()
