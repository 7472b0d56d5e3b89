"""Helpers the tests share (not tests themselves): a test client for the plugin's routes, readers of
TensorBoard's data providers, a real `tensorboard` process, and small trained Keras models.
The bench scripts import some of them too."""
