import { describe, expect, it } from 'vitest';
import { evaluateExpression } from '../../src/tools/builtin/calculator.ts';

describe('calculator', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['2 ^ 3 ^ 2', 512],
    ['2 ** 10', 1024],
    ['-2 ^ 2', -4],
    ['10 % 4', 2],
    ['sqrt(16) + abs(-3)', 7],
    ['max(1, 5, 3) - min(4, 2)', 3],
    ['log(1000)', 3],
    ['log(8, 2)', 3],
    ['round(pi * 100) / 100', 3.14],
    ['1.5e3 / .5', 3000],
    ['--3', 3],
  ])('%s = %d', (expression, expected) => {
    expect(evaluateExpression(expression)).toBeCloseTo(expected, 10);
  });

  it.each([
    ['', /empty/],
    ['1 +', /end of expression/],
    ['1 / 0', /division by zero/],
    ['foo(1)', /unknown name/],
    ['process.exit(1)', /unknown name|unexpected/],
    ['1; 2', /unexpected/],
    ['(1 + 2', /expected "\)"/],
    ['sqrt(1, 2)', /takes 1/],
    ['10 ^ 400', /finite/],
    ['('.repeat(200) + '1' + ')'.repeat(200), /nested too deeply/],
    ['1'.repeat(501), /longer than 500/],
  ])('rejects %j clearly', (expression, message) => {
    expect(() => evaluateExpression(expression)).toThrow(message);
  });
});
