import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { REST } from 'discord.js';
import type { GeneratedImage, StepProgress } from '../../protocol/generate-request.js';
import type { Logger } from '../../logger.js';
import type { Job, QueuePosition } from '../../queue/job.js';
import type { JobService } from '../../queue/job-service.js';
import { controlMapFile } from '../../store/image-files.js';
import type { AckGate } from './ack-gate.js';
import type { EditScheduler } from './edit-scheduler.js';
import { JobMessageTarget } from './job-message-target.js';
import { imageGrid } from './render/image-grid.js';
import { renderCancelled, renderDone, renderFailed, renderQueued, renderRunning, type MessageState, type StateImage } from './render/job-message.js';
import { safeError } from '../safe-error.js';
import type { LocalizedText } from '../../i18n/translate.js';

export interface JobReporterOptions {
  jobs: JobService;
  scheduler: EditScheduler;
  /** Edits wait while acknowledgements are in flight. */
  acks?: AckGate;
  rest: REST;
  applicationId: string;
  logger?: Logger;
  /** Interaction token lifetime and safety margin (tests shorten them). */
  tokenTtlMs?: number;
  tokenSafetyMs?: number;
  /** The ControlNets a model has now (the bot's ModelCatalog): results of such models get "🎛 Use as control". */
  controlNets?: (model: string) => readonly string[];
}

interface Tracked {
  target: JobMessageTarget;
  /** Lines shown while queued ("16:9 → 680x384"), said in the job's language. */
  notes: readonly LocalizedText[];
  preview?: StateImage;
}

/**
 * Turns job events into message states and hands them to the edit scheduler. It needs no memory of its own to
 * work: a job it has not seen (restored after a restart) gets a target built from what the store kept (token,
 * creation time, message id), so queued and running jobs keep updating and finish after a restart.
 */
export class JobReporter {
  readonly #options: JobReporterOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #listeners: [string, (...args: unknown[]) => void][] = [];
  /** Finals in flight, awaited by `drain` (shutdown, tests). */
  readonly #finals = new Set<Promise<void>>();

  constructor(options: JobReporterOptions) {
    this.#options = options;
    const on = <A extends unknown[]>(event: string, listener: (...args: A) => void) => {
      const wrapped = (...args: A) => {
        try {
          listener(...args);
        } catch (error) {
          options.logger?.error({ err: safeError(error), event }, 'reporting a job event failed');
        }
      };
      (options.jobs as unknown as NodeJS.EventEmitter).on(event, wrapped);
      this.#listeners.push([event, wrapped as (...args: unknown[]) => void]);
    };
    on('queued', (job: Job, position: QueuePosition) => this.#queued(job, position));
    on('position', (job: Job, position: QueuePosition) => this.#queued(job, position));
    on('started', (job: Job) => this.#submit(job, () => renderRunning(job, undefined, undefined), false));
    on('progress', (job: Job, progress: StepProgress) => this.#progress(job, progress));
    on('done', (job: Job, images: GeneratedImage[]) => this.#final(job, () => this.#doneState(job, images)));
    on('failed', (job: Job) => this.#final(job, async () => renderFailed(job)));
    on('cancelled', (job: Job) => this.#final(job, async () => renderCancelled(job)));
  }

  /** Ties a job submitted by this process to its interaction; edits wait for `acknowledged`. */
  attach(job: Job, acknowledged: Promise<unknown>, notes: readonly LocalizedText[] = []): void {
    this.#tracked.set(job.id, { target: this.#target(job, acknowledged), notes });
  }

  /** Posts the final state of jobs that finished but whose message was never confirmed (bot stopped in between). */
  deliverUndelivered(): number {
    const jobs = this.#options.jobs.undelivered();
    for (const job of jobs) {
      if (job.state === 'done') this.#final(job, () => this.#storedDoneState(job));
      else if (job.state === 'failed') this.#final(job, async () => renderFailed(job));
      else if (job.state === 'cancelled') this.#final(job, async () => renderCancelled(job));
    }
    return jobs.length;
  }

  /** Resolves when every final state handed to the scheduler so far has settled. */
  async drain(): Promise<void> {
    while (this.#finals.size > 0) await Promise.all(this.#finals);
  }

  close(): void {
    for (const [event, listener] of this.#listeners) (this.#options.jobs as unknown as NodeJS.EventEmitter).off(event, listener);
    this.#listeners.length = 0;
  }

  #target(job: Job, acknowledged?: Promise<unknown>): JobMessageTarget {
    const { rest, applicationId, logger, jobs, tokenTtlMs, tokenSafetyMs } = this.#options;
    return new JobMessageTarget(
      {
        jobId: job.id,
        userId: job.userId,
        channelId: job.channelId,
        interactionToken: job.interactionToken,
        interactionCreatedAt: job.interactionCreatedAt,
        messageId: job.messageId,
        replyToMessageId: job.replyToMessageId,
      },
      {
        rest,
        applicationId,
        logger,
        tokenTtlMs,
        tokenSafetyMs,
        acknowledged,
        onMessageId: (messageId) => {
          try {
            jobs.setMessageId(job.id, messageId);
          } catch (error) {
            logger?.warn({ jobId: job.id, err: safeError(error) }, 'could not store the message id');
          }
        },
      },
    );
  }

  #entry(job: Job): Tracked {
    let tracked = this.#tracked.get(job.id);
    if (!tracked) {
      tracked = { target: this.#target(job), notes: [] };
      this.#tracked.set(job.id, tracked);
    }
    return tracked;
  }

  #queued(job: Job, position: QueuePosition): void {
    const { notes } = this.#entry(job);
    this.#submit(job, () => renderQueued(job, position, notes), false);
  }

  #progress(job: Job, progress: StepProgress): void {
    const tracked = this.#entry(job);
    if (progress.preview) {
      tracked.preview = { key: `preview-${progress.image}-${progress.step}`, name: 'preview.png', png: progress.preview.png };
    }
    const preview = tracked.preview;
    this.#submit(job, () => renderRunning(job, progress, preview), false);
  }

  /**
   * Hands a state to the scheduler. `state` renders when the edit is sent: most queued-position and progress
   * states are replaced by newer ones before that (positions move on every dispatch) and are never rendered.
   */
  #submit(job: Job, state: MessageState | (() => MessageState), final: boolean): Promise<unknown> {
    const { target } = this.#entry(job);
    const { acks } = this.#options;
    return this.#options.scheduler.submit(
      job.id,
      target.bucketKey,
      async () => {
        await acks?.idle();
        await target.send(typeof state === 'function' ? state() : state, final);
      },
      { final },
    );
  }

  /** A final state: rendered (may read files), sent until it lands, then marked delivered in the store. */
  #final(job: Job, render: () => Promise<MessageState>): void {
    const { logger, jobs } = this.#options;
    const task = (async () => {
      let state: MessageState;
      try {
        state = await render();
      } catch (error) {
        logger?.error({ jobId: job.id, err: safeError(error) }, 'could not render the final message');
        state = renderFailed({ ...job, error: { name: 'RenderError', message: '', userFacing: false, ref: job.error?.ref ?? job.id } });
      }
      const outcome = await this.#submit(job, state, true);
      if (outcome === 'sent') jobs.markDelivered(job.id);
      else logger?.error({ jobId: job.id, outcome }, 'final message not delivered; will retry after a restart');
      this.#tracked.delete(job.id);
    })().catch((error: unknown) => logger?.error({ jobId: job.id, err: safeError(error) }, 'delivering a final message failed'));
    this.#finals.add(task);
    void task.finally(() => this.#finals.delete(task));
  }

  async #doneState(job: Job, images: readonly GeneratedImage[]): Promise<MessageState> {
    return this.#render(job, await this.#finalImage(job, images));
  }

  /** The final state with what a ControlNet job's nets saw (stored beside its images) and the 🎛 buttons. */
  async #render(job: Job, image: StateImage): Promise<MessageState> {
    const controlMaps: StateImage[] = [];
    const folder = job.outputs[0] ? path.dirname(job.outputs[0].path) : undefined;
    for (const [index] of (folder ? (job.request.controls ?? []) : []).entries()) {
      const name = controlMapFile(index);
      try {
        controlMaps.push({ key: `control-${job.id}-${index}`, name, png: await readFile(path.join(folder!, name)) });
      } catch (error) {
        // A missing map (pruned by hand) costs the map, not the result.
        this.#options.logger?.warn({ jobId: job.id, index, err: safeError(error) }, 'control map not found; result shown without it');
      }
    }
    const controlButtons = (this.#options.controlNets?.(job.request.model).length ?? 0) > 0;
    return renderDone(job, image, { controlMaps, controlButtons });
  }

  async #storedDoneState(job: Job): Promise<MessageState> {
    const images = await Promise.all(
      job.outputs.map(async (output) => ({
        png: await readFile(output.path),
        width: output.width,
        height: output.height,
        seed: output.seed,
        parameters: output.parameters,
      })),
    );
    return this.#render(job, await this.#finalImage(job, images));
  }

  async #finalImage(job: Job, images: readonly Pick<GeneratedImage, 'png' | 'width' | 'height' | 'seed' | 'parameters'>[]): Promise<StateImage> {
    const seed = images[0]?.seed ?? job.seeds[0];
    if (images.length <= 1) return { key: `final-${job.id}`, name: `imagine-${seed}.png`, png: images[0].png };
    const parameters = `${images[0].parameters}\nSeeds: ${images.map((image) => image.seed).join(', ')}`;
    return { key: `final-${job.id}`, name: `imagine-${seed}-grid.png`, png: await imageGrid(images, parameters) };
  }
}
