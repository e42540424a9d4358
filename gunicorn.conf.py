"""gunicorn settings, read from the working directory (gunicorn's default ./gunicorn.conf.py):
docker-compose, the Dockerfile and a plain `gunicorn acousticsense_site.wsgi:application` all
get them. Command-line options still win."""


def post_worker_init(worker: object) -> None:
    """Each web process loads and warms the active model as soon as it is forked, in the
    background (see inference/serving.py): the first /api/genre is as fast as the tenth. Never in
    the master: a forked child of a process that ran torch deadlocks in libgomp."""
    from inference.serving import warm_on_start

    warm_on_start(server="gunicorn worker")
