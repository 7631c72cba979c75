"""One router module per part of the API; flintcloud.service.app includes them.

Others (the web app at '/', the FLINT example's /point and /rothc) add a module here and a line
in app.ROUTERS.
"""
