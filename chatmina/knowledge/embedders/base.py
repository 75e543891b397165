"""What every embedder is and promises, and the one error users see from any of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from chatmina.errors import Unavailable

if TYPE_CHECKING:  # numpy loads when something is first embedded, not at start-up
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]


def __getattr__(name: str) -> object:
    # ``Vectors`` for modules that import it at run time (they load numpy anyway).
    if name == "Vectors":
        import numpy as np
        import numpy.typing as npt

        return npt.NDArray[np.float32]
    raise AttributeError(name)


class EmbedderError(Unavailable):
    """An embedder cannot work as configured; the message is meant for the admin.

    A UserError (503), so every caller shows it as it is: a form error, a problem+json
    body, one line from the command line.

    Raised for an unreachable provider, a refused key, vectors of the wrong size or an
    unusable model directory. Messages name the server or directory, never a secret.
    """


class Embedder(Protocol):
    """Turns texts into vectors of one vector space.

    Two embedders with the same ``spec`` produce comparable vectors; a different spec
    means the stored vectors must be rebuilt.
    """

    @property
    def spec(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """float32 vectors of shape (len(texts), dimensions), each row of length 1.

        A text with nothing to embed (empty, or only spaces and punctuation) gives a row of
        zeros.
        """
        ...


def normalise_rows(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Scale each row to length 1 in float32; rows of zeros stay zeros."""
    import numpy as np

    out = np.asarray(vectors, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
