import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

if os.environ.get("DECISION_WARM_UP", "true").lower() not in ("0", "false", "no"):
    # Each web worker loads the models, the catalogue and the rule set now, so its
    # first decision is not a second slower than the rest. (Workers load the app
    # after forking: LightGBM's OpenMP does not survive a fork.)
    from decisioning.decisions import decisions_warm_up

    decisions_warm_up()
