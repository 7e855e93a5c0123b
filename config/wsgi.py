import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

if os.environ.get("DECISION_WARM_UP", "true").lower() not in ("0", "false", "no"):
    # Each web worker loads the models, the catalogue and the rule set now, so its
    # first decision is not a second slower than the rest. (Workers load the app
    # after forking: LightGBM's OpenMP does not survive a fork.)
    from decisioning.decisions import decisions_warm_up

    decisions_warm_up()

# What start-up built (Django, the apps and their views, models, caches: some 200,000
# objects) lives as long as the worker. Frozen, the garbage collector no longer walks
# it: a full collection over it took 0.3 s in a web worker (2 to 7 ms once frozen),
# a stall that every request queued behind it waited out. The URLconf is imported
# first, or the first request would import every app's views after the freeze.
get_resolver().url_patterns  # noqa: B018  (imports the URLconf and every view module)
gc.collect()
gc.freeze()
