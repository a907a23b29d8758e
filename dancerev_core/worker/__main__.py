from .run import serve

serve()
