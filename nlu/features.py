"""Topic lexicon features: the ``kw_*`` lookup tables of the training data turned into extra tokens.

A message whose normalised text contains an entry of lookup table ``kw_sewer`` ("coladera", "aguas negras"...) gets
the token ``kw_sewer`` appended, so one example with "coladera" teaches the classifier about every word in the
table.  This is the builtin counterpart of Rasa's ``RegexFeaturizer`` over the same lookup tables.
"""

from __future__ import annotations

from nlu.normalize import normalize

LEXICON_PREFIX = "kw_"


class Lexicon:
    """Multi-word lookup matching on normalised token sequences (plural "s"/"es" tolerated)."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for name, entries in tables.items():
            if not name.startswith(LEXICON_PREFIX):
                continue
            for entry in entries:
                toks = tuple(normalize(entry).split())
                if toks:
                    self._by_first.setdefault(toks[0], []).append((toks, name))
        for cands in self._by_first.values():
            cands.sort(key=lambda c: -len(c[0]))

    @staticmethod
    def _stem(tok: str) -> str:
        if len(tok) > 4 and tok.endswith("es"):
            return tok[:-2]
        if len(tok) > 3 and tok.endswith("s"):
            return tok[:-1]
        return tok

    def tags(self, norm: str) -> list[str]:
        """Lexicon names found in a normalised text (sorted, without duplicates)."""
        toks = norm.split()
        found: set[str] = set()
        for i, tok in enumerate(toks):
            for key in {tok, self._stem(tok)}:
                for entry, name in self._by_first.get(key, ()):
                    n = len(entry)
                    if n == 1 or tuple(toks[i : i + n]) == entry or tuple(map(self._stem, toks[i : i + n])) == tuple(
                        map(self._stem, entry)
                    ):
                        found.add(name)
        return sorted(found)

    def featurize(self, norm: str) -> str:
        tags = self.tags(norm)
        return f"{norm} {' '.join(tags)}" if tags else norm
