"""The figures, the gallery and the privacy report, written from the committed metrics."""
