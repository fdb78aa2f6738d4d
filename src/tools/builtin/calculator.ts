import { z } from 'zod';
import { defineTool } from '../types.ts';

const FUNCTIONS: Record<string, { arity: [number, number]; fn: (...args: number[]) => number }> = {
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  abs: { arity: [1, 1], fn: Math.abs },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
  ln: { arity: [1, 1], fn: Math.log },
  log: { arity: [1, 2], fn: (x, base) => (base === undefined ? Math.log10(x) : Math.log(x) / Math.log(base)) },
  exp: { arity: [1, 1], fn: Math.exp },
  round: { arity: [1, 1], fn: Math.round },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  min: { arity: [1, 20], fn: Math.min },
  max: { arity: [1, 20], fn: Math.max },
  pow: { arity: [2, 2], fn: Math.pow },
};

const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

type Token = { kind: 'num'; value: number } | { kind: 'id'; value: string } | { kind: 'op'; value: string };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(input[i + 1] ?? ''))) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(input.slice(i));
      if (!match) throw new Error(`bad number at position ${i + 1}`);
      tokens.push({ kind: 'num', value: Number(match[0]) });
      i += match[0].length;
    } else if (/[a-zA-Z_]/.test(ch)) {
      const match = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(input.slice(i))!;
      tokens.push({ kind: 'id', value: match[0].toLowerCase() });
      i += match[0].length;
    } else if ('+-*/%^(),'.includes(ch)) {
      if (ch === '*' && input[i + 1] === '*') {
        tokens.push({ kind: 'op', value: '^' });
        i += 2;
      } else {
        tokens.push({ kind: 'op', value: ch });
        i++;
      }
    } else {
      throw new Error(`unexpected "${ch}" at position ${i + 1}`);
    }
  }
  return tokens;
}

/**
 * Evaluates an arithmetic expression with a small recursive-descent parser:
 * numbers, + - * / % ^ (or **), parentheses, unary minus, and a fixed set of
 * functions and constants. Nothing is ever passed to eval.
 */
export function evaluateExpression(expression: string): number {
  if (expression.length > 500) throw new Error('expression is longer than 500 characters');
  const tokens = tokenize(expression);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos];
  const isOp = (value: string) => {
    const t = peek();
    return t?.kind === 'op' && t.value === value;
  };
  const expect = (value: string) => {
    if (!isOp(value)) throw new Error(`expected "${value}"`);
    pos++;
  };

  const expr = (): number => {
    let left = term();
    while (isOp('+') || isOp('-')) {
      const op = (tokens[pos++] as { value: string }).value;
      const right = term();
      left = op === '+' ? left + right : left - right;
    }
    return left;
  };
  const term = (): number => {
    let left = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = (tokens[pos++] as { value: string }).value;
      const right = unary();
      if ((op === '/' || op === '%') && right === 0) throw new Error('division by zero');
      left = op === '*' ? left * right : op === '/' ? left / right : left % right;
    }
    return left;
  };
  const unary = (): number => {
    if (isOp('-')) {
      pos++;
      return -unary();
    }
    if (isOp('+')) {
      pos++;
      return unary();
    }
    return power();
  };
  const power = (): number => {
    const base = primary();
    if (isOp('^')) {
      pos++;
      return Math.pow(base, unary());
    }
    return base;
  };
  const primary = (): number => {
    const token = peek();
    if (!token) throw new Error('unexpected end of expression');
    if (++depth > 100) throw new Error('expression is nested too deeply');
    try {
      if (token.kind === 'num') {
        pos++;
        return token.value;
      }
      if (token.kind === 'op' && token.value === '(') {
        pos++;
        const value = expr();
        expect(')');
        return value;
      }
      if (token.kind === 'id') {
        pos++;
        const fn = FUNCTIONS[token.value];
        if (fn) {
          expect('(');
          const args = [expr()];
          while (isOp(',')) {
            pos++;
            args.push(expr());
          }
          expect(')');
          if (args.length < fn.arity[0] || args.length > fn.arity[1]) {
            throw new Error(`${token.value} takes ${fn.arity[0] === fn.arity[1] ? fn.arity[0] : `${fn.arity[0]} to ${fn.arity[1]}`} argument(s)`);
          }
          return fn.fn(...args);
        }
        const constant = CONSTANTS[token.value];
        if (constant !== undefined) return constant;
        throw new Error(`unknown name "${token.value}"`);
      }
      throw new Error(`unexpected "${token.value}"`);
    } finally {
      depth--;
    }
  };

  if (tokens.length === 0) throw new Error('empty expression');
  const value = expr();
  if (pos < tokens.length) throw new Error(`unexpected "${String(tokens[pos]!.value)}"`);
  if (!Number.isFinite(value)) throw new Error('the result is not a finite number');
  return value;
}

export const calculatorTool = defineTool({
  name: 'calculator',
  description:
    'Evaluate an arithmetic expression exactly. Supports + - * / % ^, parentheses, sqrt, abs, sin, cos, tan, ln, log, exp, round, floor, ceil, min, max, pow, pi, e.',
  input: z.object({ expression: z.string().describe('The expression, e.g. "(17 * 23) / 4 + sqrt(2)"') }),
  execute({ expression }) {
    return { expression, result: evaluateExpression(expression) };
  },
});
