"""Helpers the tests share (not tests themselves): a test client for the plugin's routes and the check of
answers against the OpenAPI document, readers of TensorBoard's data providers, a real `tensorboard`
process, small trained Keras models, a JSON tool's request for a unit, and step-file reading as stored.
The bench scripts import some of them too. Code only the tests use lives here, not in the package."""
