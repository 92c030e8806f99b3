# c360 image for web (gunicorn), worker and beat (Celery): see docker-compose.yml.
# No key is ever baked in: they come at run time from the environment or from *_FILE secrets.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=c360.settings.base \
    C360_VAR_DIR=/app/var \
    PYTHONPATH=/app

# A fixed uid/gid, so files given to the container (secrets) can be made readable by it on purpose.
RUN groupadd --system --gid 10001 c360 \
    && useradd --system --uid 10001 --gid c360 --home-dir /app --no-create-home --shell /usr/sbin/nologin c360

WORKDIR /app

# pip installs the project and its runtime dependencies (no dev extras). The code then runs from /app
# (PYTHONPATH) rather than from site-packages: settings find templates/ next to the packages
# (BASE_DIR / "templates"), and templates/ is not part of the installed distribution.
COPY pyproject.toml README.md manage.py ./
COPY c360 ./c360
COPY profiles ./profiles
COPY consent ./consent
COPY dsar ./dsar
COPY templates ./templates
RUN pip install .

# Settings refuse to load without keys, and collectstatic loads settings: throwaway keys, generated,
# used and deleted inside this one RUN, so they exist in no layer of the image.
RUN set -eu; \
    python -m c360.lib.keygen /tmp/k.env; \
    set -a; . /tmp/k.env; set +a; \
    python manage.py collectstatic --noinput; \
    rm /tmp/k.env; \
    chown -R c360:c360 /app/var

USER c360
EXPOSE 8000

# Liveness only (the process answers); readiness (database, broker) is /readyz. The request's Host is
# 127.0.0.1:8000, so ALLOWED_HOSTS must keep 127.0.0.1 for this check to pass.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

# The access log uses %(U)s, the path WITHOUT the query string: no query parameter ever reaches the logs.
CMD ["gunicorn", "c360.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--access-logformat", "\"%(m)s %(U)s\" %(s)s %(b)s %(M)sms"]
