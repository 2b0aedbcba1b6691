// GraphiQL's start-up, a file of its own so the page's Content-Security-Policy
// can forbid inline scripts (script-src 'self').
(function () {
  "use strict";
  var ENDPOINT = "/graphql";

  // GraphiQL calls fetcher(params, {headers}) with the parsed content of its
  // Headers editor, e.g. {"Authorization": "Bearer <token>"}. Headers with an
  // empty value are dropped, so the template below sends no Authorization
  // until the user fills it in.
  function fetcher(graphQLParams, opts) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    var typed = (opts && opts.headers) || {};
    Object.keys(typed).forEach(function (name) {
      var value = typed[name];
      if (value === undefined || value === null || String(value).trim() === "") return;
      headers[name] = String(value);
    });
    return fetch(ENDPOINT, {
      method: "POST",
      headers: headers,
      body: JSON.stringify(graphQLParams),
      credentials: "same-origin"
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          return { errors: [{ message: "HTTP " + response.status + ": " + text.slice(0, 500) }] };
        }
      });
    });
  }

  var defaultQuery = [
    "# Coalition GraphQL API.",
    "#",
    "# To act as a member, fill in the",
    "# Headers tab below:",
    "#   {\"Authorization\": \"Bearer <token>\"}",
    "# (kept in this browser's local storage).",
    "",
    "{",
    "  __typename",
    "}",
    ""
  ].join("\n");

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    // graphiql 1.x called this headerEditorEnabled; 2.x/3.x: isHeadersEditorEnabled.
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultHeaders: "{\n  \"Authorization\": \"\"\n}",
    defaultEditorToolsVisibility: "headers"
  }));
})();
