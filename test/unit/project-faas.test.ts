import { expect } from 'chai';
import { AppError, HTTP_STATUS, type ErrorCode } from '../../shared/errors/index.js';
import { PROJECT_FAAS_CODES, PROJECT_FAAS_ERROR_SHAPE, renderProjectFaasError } from '../../api/middleware/project-faas-errors.js';
import { parseEnvVars } from '../../api/routes/project-faas.js';
import { defaultHandlerOf, descriptionOf, formatExecutionTime, isoUtc } from '../../api/services/project-faas-service.js';

describe('the project-FaaS API adapter', () => {
  describe('its error shape', () => {
    const render = (code: ErrorCode, details: Record<string, unknown> = {}, message = 'what went wrong') => renderProjectFaasError(new AppError(code, message, details));

    it('owns /api/v1/projects…, /api/v1/functions…, /api/v1/env… and /api/v1/dependencies… only', () => {
      for (const p of ['/api/v1/projects', '/api/v1/projects/p1/env', '/api/v1/functions/p1/f1/invoke', '/api/v1/env/system', '/api/v1/dependencies/system', '/API/V1/Projects/', '/api/v1/env']) {
        expect(PROJECT_FAAS_ERROR_SHAPE.matches(p), p).to.equal(true);
      }
      for (const p of ['/projects', '/api/v1/jobs/page', '/api/v1/tasks/page', '/api/v1/projectsx', '/api/v2/projects', '/functions/abc']) {
        expect(PROJECT_FAAS_ERROR_SHAPE.matches(p), p).to.equal(false);
      }
    });

    it('maps every fnqueue code to one of the reference\'s codes, keeping fitting statuses', () => {
      for (const code of Object.keys(HTTP_STATUS) as ErrorCode[]) {
        const { status, body } = render(code);
        expect(PROJECT_FAAS_CODES, code).to.include(body.code);
        expect(body.status).to.equal('error');
        expect(status, code).to.be.within(400, 599);
      }
      expect(render('UNAUTHORIZED')).to.deep.include({ status: 401 });
      expect(render('UNAUTHORIZED').body.code).to.equal('AUTHENTICATION_ERROR');
      expect(render('FORBIDDEN').body.code).to.equal('AUTHORIZATION_ERROR');
      expect(render('RATE_LIMITED')).to.deep.include({ status: 429 });
      expect(render('RATE_LIMITED').body.code).to.equal('RATE_LIMIT_ERROR');
      expect(render('SERVICE_UNAVAILABLE')).to.deep.include({ status: 503 });
      expect(render('SERVICE_UNAVAILABLE').body.code).to.equal('INTERNAL_ERROR');
      expect(render('ALGORITHM_ERROR').body.code).to.equal('EXECUTION_ERROR');
      expect(render('TIMEOUT')).to.deep.include({ status: 504 });
      expect(render('METHOD_NOT_ALLOWED')).to.deep.include({ status: 405 });
      expect(render('METHOD_NOT_ALLOWED').body.details.field).to.equal('method');
      expect(render('PROJECT_NOT_FOUND').body).to.deep.include({ code: 'PROJECT_NOT_FOUND' });
      expect(render('PROJECT_NOT_FOUND').body.details.field).to.equal('project_name');
    });

    it('tells env, dependency and other validation errors apart by their field', () => {
      expect(render('VALIDATION_ERROR', { field: 'env_vars.1BAD' }).body.code).to.equal('ENV_ERROR');
      expect(render('VALIDATION_ERROR', { field: 'env.A' }).body.code).to.equal('ENV_ERROR');
      expect(render('VALIDATION_ERROR', { field: 'requirements' }).body.code).to.equal('DEPENDENCY_ERROR');
      expect(render('VALIDATION_ERROR', { field: 'python.0' }).body.code).to.equal('DEPENDENCY_ERROR');
      expect(render('VALIDATION_ERROR', { field: 'environment_name' }).body.code).to.equal('INVALID_PARAMETERS');
      expect(render('VALIDATION_ERROR', { field: 'code' })).to.deep.include({ status: 400 });
    });

    it('tells a stopped project, a function still building and a taken name apart among conflicts', () => {
      expect(render('CONFLICT', { reason: 'project_stopped', project: 'p' }).body.code).to.equal('EXECUTION_ERROR');
      expect(render('CONFLICT', { status: 'building' }).body.code).to.equal('DEPENDENCY_ERROR');
      expect(render('CONFLICT', { build_log: 'pip failed' }).body.code).to.equal('DEPENDENCY_ERROR');
      expect(render('CONFLICT', { field: 'function_name' }).body).to.deep.include({ code: 'INVALID_PARAMETERS' });
      expect(render('CONFLICT')).to.deep.include({ status: 409 });
    });

    it('writes details as {field, reason, ...fnqueue\'s own}: the first issue\'s message as reason, without the issues list or the reason token', () => {
      const { body } = render('VALIDATION_ERROR', { field: 'function_name', issues: [{ field: 'function_name', message: 'must be 1-64 letters' }], value: 'x y' }, 'function_name must be 1-64 letters');
      expect(body).to.deep.equal({ status: 'error', code: 'INVALID_PARAMETERS', message: 'function_name must be 1-64 letters', details: { field: 'function_name', reason: 'must be 1-64 letters', value: 'x y' } });
      expect(render('CONFLICT', { reason: 'project_stopped', project: 'p' }, 'stopped').body.details).to.deep.equal({ field: null, reason: 'stopped', project: 'p' });
    });
  });

  describe('env_vars', () => {
    it('reads a JSON object, numbers and booleans as their text', () => {
      expect(parseEnvVars('{"A": "x", "PORT": 3306, "ON": true}')).to.deep.equal({ A: 'x', PORT: '3306', ON: 'true' });
    });

    it('reads KEY=VALUE lines as a .env file holds them', () => {
      expect(parseEnvVars('# comment\nA=1\n\nexport B = two words \nC="quoted = yes"\nD=\'single\'\nE=a=b\n')).to.deep.equal({ A: '1', B: 'two words', C: 'quoted = yes', D: 'single', E: 'a=b' });
      expect(parseEnvVars('')).to.deep.equal({});
    });

    it('refuses bad names, nested values and lines without =, naming env_vars', () => {
      const field = (text: string) => {
        try {
          parseEnvVars(text);
        } catch (err) {
          return (err as AppError).details.field;
        }
        return 'accepted';
      };
      expect(field('1BAD=x')).to.equal('env_vars.1BAD');
      expect(field('{"A": {"b": 1}}')).to.equal('env_vars.A');
      expect(field('{"A": ')).to.equal('env_vars');
      expect(field('[1, 2]')).to.equal('env_vars');
      expect(field('JUSTANAME')).to.equal('env_vars');
    });
  });

  describe('the default handler', () => {
    it('is main for Python code that defines main and no handler, else handler', () => {
      expect(defaultHandlerOf('python', 'def main(params):\n    return 1\n')).to.equal('main');
      expect(defaultHandlerOf('python', 'import x\n\nasync def main(event, context):\n    return 1\n')).to.equal('main');
      expect(defaultHandlerOf('python', 'def helper():\n    pass\nmain = helper\n')).to.equal('main');
      expect(defaultHandlerOf('python', 'def main(e):\n    return 1\ndef handler(e):\n    return 2\n')).to.equal('handler');
      expect(defaultHandlerOf('python', 'def handler(e):\n    return 1\n')).to.equal('handler');
      // Only top-level definitions count: a nested main, or one named in a string, does not.
      expect(defaultHandlerOf('python', 'class A:\n    def main(self):\n        pass\n')).to.equal('handler');
      expect(defaultHandlerOf('python', 'x = "def main(): pass"\n')).to.equal('handler');
      expect(defaultHandlerOf('python', 'def mainly(e):\n    pass\n')).to.equal('handler');
      expect(defaultHandlerOf('nodejs', 'function main() {}\n')).to.equal('handler');
    });
  });

  describe('the description', () => {
    const py = (code: string, handler = 'main') => descriptionOf({ runtime: 'python', code, handler });

    it("is the first paragraph of the Python handler's docstring", () => {
      expect(py('def main(params):\n    """Greets whoever\n    params names.\n\n    Details here.\n    """\n    return 1\n')).to.equal('Greets whoever params names.');
      expect(py("async def main(event, context=None) -> dict:\n\n    '''One line.'''\n")).to.equal('One line.');
      expect(py('def handler(e):\n    "short"\n', 'handler')).to.equal('short');
    });

    it("is null without one, for another function's docstring, and for Node.js", () => {
      expect(py('def main(params):\n    return 1\n')).to.equal(null);
      expect(py('def other():\n    """Other."""\ndef main(e):\n    return 1\n')).to.equal(null);
      expect(descriptionOf({ runtime: 'nodejs', code: '/** doc */ exports.handler = () => 1', handler: 'handler' })).to.equal(null);
    });
  });

  it('writes times in UTC with Z and execution times in seconds to the millisecond', () => {
    expect(isoUtc('2026-12-01T21:52:24.145+00:00')).to.equal('2026-12-01T21:52:24.145Z');
    expect(isoUtc(null)).to.equal(null);
    expect(formatExecutionTime(0.5)).to.equal('0.5s');
    expect(formatExecutionTime(0.000811)).to.equal('0.001s');
    expect(formatExecutionTime(12.3456)).to.equal('12.346s');
  });
});
