import { Router } from 'express';
import { isJobId, toPublicRecord } from '../../shared/queue/job-record.js';
import { jobNotFound, type JobService } from '../job-service.js';
import { parseBody } from '../middleware/validate.js';
import { JobRequestSchema } from '../schemas.js';

/** Seed 002: `任务已创建` (job created). */
export const JOB_CREATED_MESSAGE = 'job created';

/** POST /jobs and GET /jobs/{job_id} (seed 002). */
export function jobsRouter(jobs: JobService): Router {
  const router = Router();

  router.post('/jobs', async (req, res) => {
    const body = parseBody(JobRequestSchema, req.body);
    const { job_id, created_at } = await jobs.submit({ ...body, requestId: req.requestId, paramsPath: ['params'] });
    res.status(202).location(`/jobs/${job_id}`).json({ job_id, status: 'pending', message: JOB_CREATED_MESSAGE, created_at });
  });

  router.get('/jobs/:job_id', async (req, res) => {
    const jobId = req.params.job_id;
    if (!isJobId(jobId)) throw jobNotFound(jobId);
    res.json(toPublicRecord(await jobs.get(jobId)));
  });

  return router;
}
