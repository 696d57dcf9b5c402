# The in-process job context and the per-test fake Gemini of the analysis tests.
from tests.analysis.conftest import gemini, job_ctx  # noqa: F401
