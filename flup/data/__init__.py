"""The data: getting LFW and evaluation-only datasets onto disk safely, their protocol files, and the test pairs."""
