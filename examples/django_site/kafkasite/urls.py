"""Two views: one logs a numbered record, the other only says which process answered."""

import logging
import os

from django.http import HttpRequest, JsonResponse
from django.urls import path

log = logging.getLogger("kafkasite.views")


def log_one(request: HttpRequest, seq: int) -> JsonResponse:
    """Log one record numbered ``seq``."""
    log.info("request %d", seq, extra={"seq": seq})
    return JsonResponse({"pid": os.getpid()})


def whoami(request: HttpRequest) -> JsonResponse:
    """The serving process's pid, logging nothing (the test uses it to see a reload)."""
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("log/<int:seq>/", log_one),
    path("pid/", whoami),
]
