"""Recognition engine: pure Python, NumPy, OpenCV and Keras; never imports Django."""
