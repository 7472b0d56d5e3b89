"""A JSON tool's data request for a unit, made as the browser makes it (frontend/src/widgets/jsonTool.ts):
the tests run the built-in tools' templates through the real `data` route."""

from innspector_tb.server.json_tools import PLACEHOLDERS


def substitute(template, unit):
    """The data request of a template for `unit` ({"run", "layer", "variable", "neuron"}), as the browser does it."""

    def walk(value):
        if isinstance(value, str) and value in PLACEHOLDERS:
            name = PLACEHOLDERS[value]
            if name not in unit:
                raise KeyError("the unit has no %s" % name)
            return int(unit[name]) if name == "neuron" else unit[name]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    body = dict(template)
    body["run"] = walk(template.get("run", "{run}"))
    body["unit"] = walk(template["unit"])
    return body
