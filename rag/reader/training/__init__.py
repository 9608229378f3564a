"""Training the reader: CMRC 2018 + DRCD data with mined negatives (`data.py`), the loop and calibration (`train.py`).

Never imported by serving. `python -m rag train-reader` runs it.
"""
