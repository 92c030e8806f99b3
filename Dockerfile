# c360 web / worker / beat image. Keys are never baked in: they come from the environment or *_FILE secrets.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=c360.settings.base \
    C360_VAR_DIR=/app/var \
    PYTHONPATH=/app

RUN groupadd --system c360 && useradd --system --gid c360 --home-dir /app --shell /usr/sbin/nologin c360
WORKDIR /app

COPY pyproject.toml README.md ./
COPY c360 ./c360
COPY profiles ./profiles
COPY consent ./consent
COPY dsar ./dsar
COPY templates ./templates
COPY manage.py ./
# The code runs from /app (PYTHONPATH), where templates/ sits next to it; pip installs the dependencies.
RUN pip install .

# collectstatic needs settings, and settings need keys: throwaway keys that die with this layer.
RUN python -m c360.lib.keygen /tmp/build-keys.env \
    && set -a && . /tmp/build-keys.env && set +a \
    && python manage.py collectstatic --noinput \
    && rm /tmp/build-keys.env \
    && chown -R c360:c360 /app/var

USER c360
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"

# %(U)s is the path without the query string: nothing from a query ever reaches the access log.
CMD ["gunicorn", "c360.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--access-logformat", "%(h)s \"%(m)s %(U)s\" %(s)s %(b)s %(M)sms"]
