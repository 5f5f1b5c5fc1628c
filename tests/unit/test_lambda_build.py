"""tools/lambda_build.py reads pip's explanation of a failed install: a source-only dependency of a dependency."""

from __future__ import annotations

from pathlib import Path

from tools import lambda_build

# pip 26's stdout for `install -r requirements.txt -c constraints.txt --only-binary=:all: --platform ...` when
# num2words (a wheel) needs docopt (a source release only) and the requirements name num2words alone.
TRANSITIVE = """\
Collecting num2words==0.5.14 (from -r requirements.txt (line 1))
  Downloading num2words-0.5.14-py3-none-any.whl (163 kB)

The conflict is caused by:
    num2words 0.5.14 depends on docopt>=0.6.2
    The user requested (constraint) docopt==0.6.2

Additionally, some packages in these conflicts have no matching distributions available for your environment:
    docopt

To fix this you could try to:
1. loosen the range of package versions you've specified
"""

# The same when requirements.txt names docopt too (as the layer's does): pip names it, and the build makes its wheel.
DIRECT = """\
The conflict is caused by:
    The user requested docopt==0.6.2
    The user requested (constraint) docopt==0.6.2

Additionally, some packages in these conflicts have no matching distributions available for your environment:
    docopt

To fix this you could try to:
"""


def test_a_source_only_dependency_of_a_dependency_is_named_with_what_to_do(tmp_path: Path) -> None:
    # Given pip's explanation when the source-only package is only a dependency of a requirement, and the lock
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# the lock\ndocopt==0.6.2\nnum2words==0.5.14\n")
    # When the build reads it
    found = lambda_build.source_only_dependencies(TRANSITIVE)
    advice = lambda_build.require_them_directly(found, TRANSITIVE, Path("requirements.txt"), constraints)
    # Then it names the package, the requirement that needs it, and the line to add, at the lock's version
    assert found == ["docopt"]
    assert advice.startswith("docopt has no wheel for Lambda's platform, only a source release")
    assert "a dependency of num2words 0.5.14" in advice
    assert "add `docopt==0.6.2` to requirements.txt" in advice


def test_a_source_only_requirement_is_left_to_the_build() -> None:
    # Given pip's explanation when the requirements name the source-only package themselves
    # When the build reads it
    found = lambda_build.source_only_dependencies(DIRECT)
    # Then nothing is a hidden dependency: the build makes that requirement's pure-Python wheel
    assert found == []
