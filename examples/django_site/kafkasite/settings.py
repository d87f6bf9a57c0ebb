"""Settings of the example site. The part about kafkalog is ``LOGGING`` at the end.

    cd examples/django_site
    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=django-logs python manage.py runserver
    curl http://127.0.0.1:8000/log/7/     # logs one record with fields.seq = 7
"""

import os

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "kafkasite.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Django applies its own defaults first and then this dict, with logging.config.dictConfig: in every process
# (under runserver's autoreloader: the watching parent and the serving child) and, under runserver, twice in
# the serving process. Each run replaces the handlers of the run before, which closes them; kafkalog sends
# what they had queued.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,  # keep the loggers Django set up (django, django.server, ...)
    "handlers": {
        "kafka": {
            "class": "kafkalog.KafkaHandler",
            "bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            "topic": os.environ.get("KAFKA_TOPIC", "django-logs"),
            "static_fields": {"service": "django-example"},
        },
    },
    # The root logger gets the records of the site's own loggers and of the "django" logger, which propagates:
    # request errors (django.request) and the autoreloader's lines. runserver's access lines ("django.server")
    # do not propagate and stay on the console.
    "root": {"handlers": ["kafka"], "level": "INFO"},
}
