"""The shared pure core: the breaker fold, codecs, the topic registry. No I/O, no clock."""
