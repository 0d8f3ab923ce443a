"""TSPLIB's symmetric instances as a distance matrix, by the TSPLIB 95 definitions.

`vrplib` reads only the Euclidean and two explicit layouts; the benchmark set also has GEO, ATT
and the diagonal/upper-row layouts, so this reads them all (and tsplib95 would pin networkx 2).
"""

import math
from pathlib import Path


def read_tsp(path: Path) -> list[list[int]]:
    """The instance's full distance matrix (node order as in the file)."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("SECTION"):
            current = line.split()[0]
            sections[current] = []
        elif ":" in line and current is None:
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif current is not None:
            if ":" in line:  # a header after a section ends it
                key, value = line.split(":", 1)
                header[key.strip()] = value.strip()
                current = None
            else:
                sections[current].append(line)
    n = int(header["DIMENSION"])
    kind = header["EDGE_WEIGHT_TYPE"]
    if kind == "EXPLICIT":
        numbers = [int(float(x)) for row in sections["EDGE_WEIGHT_SECTION"] for x in row.split()]
        return _explicit(numbers, n, header["EDGE_WEIGHT_FORMAT"])
    points = [tuple(map(float, row.split()[1:3])) for row in sections["NODE_COORD_SECTION"]][:n]
    distance = {"EUC_2D": _euc_2d, "ATT": _att, "GEO": _geo, "CEIL_2D": _ceil_2d}[kind]
    return [
        [0 if i == j else distance(a, b) for j, b in enumerate(points)]
        for i, a in enumerate(points)
    ]  # noqa: E501


def _explicit(numbers: list[int], n: int, layout: str) -> list[list[int]]:
    matrix = [[0] * n for _ in range(n)]
    if layout == "FULL_MATRIX":
        return [numbers[i * n : (i + 1) * n] for i in range(n)]
    cells = {
        "UPPER_ROW": [(i, j) for i in range(n) for j in range(i + 1, n)],
        "LOWER_ROW": [(i, j) for i in range(n) for j in range(i)],
        "UPPER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i, n)],
        "LOWER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i + 1)],
    }[layout]
    for (i, j), value in zip(cells, numbers, strict=False):
        matrix[i][j] = matrix[j][i] = value
    return matrix


def _euc_2d(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    return int(math.dist(a, b) + 0.5)


def _ceil_2d(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    return math.ceil(math.dist(a, b))


def _att(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    r = math.sqrt(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / 10.0)
    t = int(r + 0.5)
    return t + 1 if t < r else t


def _geo(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    def radians(x: float) -> float:
        degrees = int(x)
        return math.pi * (degrees + 5.0 * (x - degrees) / 3.0) / 180.0

    lat_a, lng_a, lat_b, lng_b = radians(a[0]), radians(a[1]), radians(b[0]), radians(b[1])
    q1 = math.cos(lng_a - lng_b)
    q2 = math.cos(lat_a - lat_b)
    q3 = math.cos(lat_a + lat_b)
    return int(6378.388 * math.acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0)
