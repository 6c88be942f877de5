"""What several tests do the same way."""

from mirror_hf.cli import main


def build_cli(release, out, *extra: str, celeba=None) -> int:
    """Run `mirror-hf build --release RELEASE [--celeba-dir CELEBA] --out OUT --quiet EXTRA...`; its exit code."""
    celeba_args = ["--celeba-dir", str(celeba)] if celeba else []
    return main(["build", "--release", str(release), *celeba_args, "--out", str(out), "--quiet", *extra])
