"""Server: the TensorBoard plugin. The plugin class, one module per route family, request parameters,
the OpenAPI document and JSON tools.

Turns requests into calls on `store` and `analysis` and their results into JSON; maps the `errors`
hierarchy to HTTP statuses. Never imports TensorFlow, Keras or `capture`.
"""
