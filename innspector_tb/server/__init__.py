"""Server: the TensorBoard plugin. The plugin class, one module per route family, request parameters,
the OpenAPI document and JSON tools.

    plugin.py          the loader, the route table, each request wired to its route function
    http.py            JSON answers and request bodies; the `errors` hierarchy mapped to HTTP statuses
    params.py          request parameters (query strings, JSON bodies) parsed and checked
    routes_*.py        the answers: models/tree/interestingness/structures/lint, graph/neurons, data,
                       metrics, mistakes; plain functions over a BoundRunStore, no HTTP
    json_tools.py      tools declared in JSON: sources, files, the checks of meaning
    tool_schema.py     their structure: tool_declaration.schema.json, validated with jsonschema
    openapi*.py        the OpenAPI document of the routes

Turns requests into calls on `store` and `analysis` and their results into JSON; maps the `errors`
hierarchy to HTTP statuses. Never imports TensorFlow, Keras or `capture`.
"""
