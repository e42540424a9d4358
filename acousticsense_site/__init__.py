"""The Django project: settings from the environment, the URLs that compose the apps (the admin,
the review pages, the API in ``api_urls.py``), WSGI, media serving, ``/health`` and the local Redis
the run command starts when none answers."""
