"""The probe's vocabulary: the token string of each token id, for models whose input is token ids.

Given to the callback as `vocabulary=` (a list in id order) and stored in the probe samples' manifest
(docs/format.md, "Samples"); the views show a token sequence as these strings. Checked the same way
when it is written and when it is read back (a log is input from a stranger).
"""

MAX_TOKENS = 200_000  # a large word-piece vocabulary; about 2 MB of JSON in the samples manifest
MAX_TOKEN_CHARS = 200


class VocabularyError(ValueError):
    """A vocabulary that is not a list of short strings."""


def check(value):
    """The vocabulary as a list of str; raises VocabularyError with the reason."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise VocabularyError("vocabulary must be a list of token strings in id order, got %s" % type(value).__name__)
    if len(value) > MAX_TOKENS:
        raise VocabularyError("vocabulary has %d tokens; at most %d are shown" % (len(value), MAX_TOKENS))
    tokens = []
    for i, token in enumerate(value):
        if not isinstance(token, str):
            raise VocabularyError("vocabulary token %d is a %s, not a string" % (i, type(token).__name__))
        if len(token) > MAX_TOKEN_CHARS:
            raise VocabularyError(
                "vocabulary token %d has %d characters (at most %d)" % (i, len(token), MAX_TOKEN_CHARS)
            )
        tokens.append(token)
    return tokens
