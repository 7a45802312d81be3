"""Deploying a finished run: one image -> logits module as a torch.export
program (.pt2) and ONNX, each sealed by its json (tools/export.py), and
classifying images with a run or an exported file (tools/predict.py)."""
