"""Deploying a finished run: one image -> logits module in TorchScript and
ONNX with its metadata (tools/export.py), and classifying images with a run
or an exported file (tools/predict.py)."""
