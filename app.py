"""Herald's Chalice app: wiring of routes, queue consumers and schedules, nothing else."""

from chalice import Chalice, Rate

from chalicelib import observability, workers
from chalicelib.api import accounts, communications, followup, jobs, meta, privacy, templates, ui, webhooks
from chalicelib.api import settings as settings_api
from chalicelib.settings import get_settings

settings = get_settings()
app = Chalice(app_name="herald", configure_logs=False)
app.api.binary_types = []  # CSV bodies arrive as text
app.register_middleware(observability.middleware, "all")
app.register_blueprint(meta.bp)
app.register_blueprint(accounts.bp)
app.register_blueprint(communications.bp)
app.register_blueprint(followup.bp)
app.register_blueprint(webhooks.bp)
app.register_blueprint(settings_api.bp)
app.register_blueprint(templates.bp)
app.register_blueprint(jobs.bp)
app.register_blueprint(ui.bp)
app.register_blueprint(privacy.bp)


@app.on_sqs_message(queue=settings.plan_queue, batch_size=1)
def plan_worker(event):
    return workers.plan.handle(event.to_dict())


# One send task (100 accounts) per invocation: a communication spreads over the concurrent workers.
@app.on_sqs_message(queue=settings.send_queue, batch_size=1)
def send_worker(event):
    return workers.send.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.urgent_send_queue, batch_size=1)
def urgent_send_worker(event):
    return workers.send.handle(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event):
    return workers.sweep.handle()


# Up to 100 events a call, gathered for at most 2 s: their status changes and counter moves are
# written together (chalicelib/domain/delivery.py), so fewer, fuller batches cost less.
@app.on_sqs_message(queue=settings.events_queue, batch_size=100, maximum_batching_window_in_seconds=2)
def events_worker(event):
    return workers.events.handle(event.to_dict())


# One file (at most 1 MB of events, Firehose's buffer) per invocation.
@app.on_sqs_message(queue=settings.event_files_queue, batch_size=1)
def event_files_worker(event):
    return workers.event_files.handle(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def schedule_tick(event):
    return workers.schedule.handle(event.to_dict())


@app.on_sqs_message(queue=settings.audience_import_queue, batch_size=1)
def audience_import_worker(event):
    return workers.audience_import.handle(event.to_dict())


@app.on_sqs_message(queue=settings.jobs_queue, batch_size=1)
def jobs_worker(event):
    return workers.jobs.handle(event.to_dict())
