"""The web app: pages for focal points and the secretariat (issue 17),
served by the gateway process at `/` (services/gateway/app.py mounts it).

Server-rendered HTML, progressively enhanced: every task works with
JavaScript off, and static/app.js only enhances (a live countdown). Every
page gets its data by running GraphQL documents against the gateway's own
schema, in process, as the signed-in viewer (`Page.query`), and every form
posts to a view that runs the matching mutation (`Page.mutate`): the web app
never calls a service, so it can show nothing and do nothing that the API
would refuse.

    app.py          WebApp: routes, the viewer of the session cookie, CSRF and
                    Origin checks, security headers, compression, static files
    page.py         Page: one request as a view sees it (query, mutate, render)
    csrf.py         the token each form carries
    i18n.py         the web's catalogue (English msgids, Russian in locale/),
                    the Jinja2 environment of each language and its filters
    charts.py       inline SVG charts, each with a text equivalent
    diff.py         the changes of a proposal between rounds
    views/          the pages, each registered with `views.route`:
                    signin (sign in and out, the language switch), public,
                    member, secretariat
    templates/      Jinja2: base.html (the layout), macros.html (form fields),
                    one folder per group of views
    static/         app.css and app.js, served at /static/ (no other host)
"""
