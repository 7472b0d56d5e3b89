"""The TensorBoard entry point (`innspector_tb.plugin:InnspectorLoader`); the plugin is in `server/plugin.py`.

Importing it never imports TensorFlow or Keras: TensorBoard loads every installed plugin at start.
"""

from innspector_tb.server.plugin import InnspectorLoader, InnspectorPlugin

__all__ = ["InnspectorLoader", "InnspectorPlugin"]
