"""Pages for the people who do not write code, served by the same service at ``/ui``.

:mod:`serving.web.app` holds the routes the pages need beyond the API (upload jobs, their
files, a clone's data, the sign-in form); :mod:`serving.web.jobs` scores an upload in the
background with progress; ``static/`` holds the pages themselves (HTML, CSS and plain
JavaScript; plotly.js comes from the installed ``plotly`` package).
"""
