"""Transcription and speech jobs, in the manner of handler -> logic -> data access:

service.py  the state machine (create, run, read, fail), over the two interfaces below
store.py    `JobStore`, where jobs are kept (DynamoDB)
queue.py    `JobQueue`, how jobs reach the worker (SQS)
webhooks.py a job's webhook: signed, delivered when it ends, retried through the queue
"""

from speech_common.jobs.service import (
    FAILED,
    JOB_TAKES,
    QUEUED,
    RUNNING,
    STT,
    SUCCEEDED,
    TTS,
    Job,
    create_stt_job,
    create_stt_job_from_url,
    create_tts_job,
    fail_abandoned_job,
    get_job,
    measure_upload,
    run_job,
)

__all__ = [
    "FAILED",
    "JOB_TAKES",
    "QUEUED",
    "RUNNING",
    "STT",
    "SUCCEEDED",
    "TTS",
    "Job",
    "create_stt_job",
    "create_stt_job_from_url",
    "create_tts_job",
    "fail_abandoned_job",
    "get_job",
    "measure_upload",
    "run_job",
]
