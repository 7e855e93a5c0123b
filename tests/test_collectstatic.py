"""Production serves hashed, compressed assets: collectstatic must succeed on every asset."""

from django.core.management import call_command


def test_collectstatic_with_hashed_names_finds_every_referenced_file(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
    assert list(tmp_path.glob("frontend/vendor/chartjs/chart.umd.min.*.js"))
