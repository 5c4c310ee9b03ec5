//! Promotion rules: a tiny, sandboxed, deterministic expression language for the custom
//! condition an operator attaches to a campaign, e.g.
//! `amount >= 10_000 && (bin in 622200..=622299 || issuer == 3) && hour < 2`.
//!
//! [`Rule::compile`] runs once, when the rule is published: it parses and type-checks the text
//! and turns it into a flat postfix program of at most [`RULE_OPS_MAX`] operations whose stack
//! depth, known at compile time, is at most [`RULE_STACK_MAX`]. Every error names the byte where
//! it was found, so a bad rule is refused before it is stored. [`Rule::eval`] runs on the
//! payment hot path: it never allocates, only jumps forward (so it always terminates) and
//! computes on `i64` only (so every machine gives the same answer).
//!
//! # Language
//!
//! Tokens: whitespace (space, tab, `\n`, `\r`) separates tokens and is otherwise ignored;
//! identifiers are `[a-z_][a-z0-9_]*`; integer literals are decimal digits with `_` allowed
//! after the first digit (`10_000`) and must fit `i64`; `true`, `false` and `in` are keywords.
//! Grammar, loosest first:
//!
//! ```text
//! or    := and ('||' and)*
//! and   := not ('&&' not)*
//! not   := '!' not | cmp
//! cmp   := sum [('==' | '!=' | '<' | '<=' | '>' | '>=') sum]
//!        | sum 'in' '[' lit (',' lit)* ']'          (at most 16 items)
//!        | sum 'in' lit '..=' lit                   (inclusive; lo > hi is never true)
//! sum   := prod (('+' | '-') prod)*
//! prod  := unary (('*' | '/' | '%') unary)*
//! unary := '-' unary | atom
//! atom  := int | ident | 'true' | 'false' | '(' or ')'
//! lit   := ['-'] int                                (so a list may hold i64::MIN)
//! ```
//!
//! Comparisons do not chain (`1 < 2 < 3` is refused). Types are int and bool, checked at
//! compile time: arithmetic and ordering take ints; `==` and `!=` take two ints or two bools;
//! `!`, `&&` and `||` take bools; `in` takes an int; the whole rule must be a bool. Nesting
//! (parentheses, `!`, unary `-`) is at most 32 deep, so hostile text cannot exhaust the native
//! stack.
//!
//! # Evaluation
//!
//! `&&` and `||` short-circuit: the skipped side is not evaluated. Arithmetic is checked like
//! `i64::checked_*` (`/` and `%` truncate toward zero): an overflow, including `i64::MIN / -1`
//! and `i64::MIN % -1`, or a division or remainder by zero, anywhere it is evaluated, makes the
//! whole rule false (not just the comparison it sits in: `!(a * a > 0)` is false when `a * a`
//! overflows).

use std::fmt;

/// The longest rule text, in bytes.
pub const RULE_TEXT_MAX: usize = 192;
/// The most operations a compiled rule may have.
pub const RULE_OPS_MAX: usize = 64;
/// The deepest evaluation stack a compiled rule may need.
pub const RULE_STACK_MAX: usize = 16;

/// How deep parentheses, `!` and unary `-` may nest.
const NESTING_MAX: usize = 32;
/// The most items in one `in [...]` list.
const LIST_MAX: usize = 16;

/// A compiled rule: a postfix program over an `i64` stack (bools are 0 and 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    ops: Vec<Op>,
    /// The items of every `in [...]` list, back to back.
    items: Vec<i64>,
    /// One more than the highest variable index the program loads (0: none).
    arity: usize,
}

/// Why a rule text was refused, and the byte offset in the text where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The byte offset of the token where the problem was found (`UnexpectedEnd`: the text's
    /// length; `TooLong`: [`RULE_TEXT_MAX`]; `Empty` and a non-bool rule: 0).
    pub offset: usize,
    /// What the problem is.
    pub kind: RuleErrorKind,
}

/// The kinds of [`RuleError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The text is empty or whitespace only.
    Empty,
    /// The text is longer than [`RULE_TEXT_MAX`] bytes.
    TooLong,
    /// A byte that starts no token (a non-ASCII byte, an upper-case letter, a lone `&`, ...).
    UnexpectedCharacter,
    /// The text ends where more was needed.
    UnexpectedEnd,
    /// A token that the grammar does not allow here.
    UnexpectedToken,
    /// An integer literal that does not fit `i64`.
    NumberTooLarge,
    /// An identifier that is not among the rule's variables.
    UnknownVariable,
    /// An operand of the wrong type (int for bool or bool for int), or a rule that is not bool.
    TypeMismatch,
    /// Too many operations, too deep a stack, nesting, or too long a list.
    TooComplex,
}

impl RuleErrorKind {
    fn describe(self) -> &'static str {
        match self {
            RuleErrorKind::Empty => "empty rule",
            RuleErrorKind::TooLong => "rule too long",
            RuleErrorKind::UnexpectedCharacter => "unexpected character",
            RuleErrorKind::UnexpectedEnd => "unexpected end of rule",
            RuleErrorKind::UnexpectedToken => "unexpected token",
            RuleErrorKind::NumberTooLarge => "number too large",
            RuleErrorKind::UnknownVariable => "unknown variable",
            RuleErrorKind::TypeMismatch => "type mismatch",
            RuleErrorKind::TooComplex => "rule too complex",
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind.describe(), self.offset)
    }
}

impl std::error::Error for RuleError {}

impl Rule {
    /// Compiles `text` against the variable names `variables`; a variable is referred to by its
    /// index in that slice at evaluation time (a name listed twice means its first index; a name
    /// that is not an identifier, or is a keyword, can never be referred to). The whole
    /// expression must be bool.
    ///
    /// # Errors
    /// A [`RuleError`]: the first problem found while reading left to right (the length and
    /// emptiness checks come first, the whole rule's type last), with its byte offset in `text`.
    pub fn compile(text: &str, variables: &[&str]) -> Result<Rule, RuleError> {
        if text.len() > RULE_TEXT_MAX {
            return Err(error(RULE_TEXT_MAX, RuleErrorKind::TooLong));
        }
        if text.bytes().all(is_space) {
            return Err(error(0, RuleErrorKind::Empty));
        }
        let mut parser = Parser::new(text.as_bytes(), variables);
        let rule = parser.or()?;
        if parser.token.kind != Kind::End {
            return Err(parser.unexpected());
        }
        if rule.ty != Ty::Bool {
            return Err(error(0, RuleErrorKind::TypeMismatch));
        }
        Ok(Rule {
            ops: parser.ops,
            items: parser.items,
            arity: parser.arity,
        })
    }

    /// Evaluates the rule with `values[i]` the value of `variables[i]` (as given to
    /// [`Rule::compile`]). Arithmetic is checked: an overflow, or a division or remainder by
    /// zero, wherever it is evaluated (a side skipped by `&&` or `||` is not), makes the whole
    /// rule false. Never allocates.
    ///
    /// # Panics
    /// If `values` lacks a value for a variable the rule refers to; `values` at least as long as
    /// the compiled-against `variables` never panics.
    #[must_use]
    pub fn eval(&self, values: &[i64]) -> bool {
        assert!(
            values.len() >= self.arity,
            "rule refers to {} variables, {} values given",
            self.arity,
            values.len()
        );
        self.run(values).unwrap_or(false)
    }

    /// Runs the program: `None` on an arithmetic failure (or, never, a malformed program).
    fn run(&self, values: &[i64]) -> Option<bool> {
        let mut stack = Stack {
            slots: [0; RULE_STACK_MAX],
            len: 0,
        };
        let mut pc = 0;
        while let Some(&op) = self.ops.get(pc) {
            pc += 1;
            match op {
                Op::Push(value) => stack.push(value)?,
                Op::Load(index) => stack.push(*values.get(index)?)?,
                Op::Neg => {
                    let a = stack.pop()?;
                    stack.push(a.checked_neg()?)?;
                }
                Op::Not => {
                    let a = stack.pop()?;
                    stack.push(i64::from(a == 0))?;
                }
                Op::Add => stack.arith(i64::checked_add)?,
                Op::Sub => stack.arith(i64::checked_sub)?,
                Op::Mul => stack.arith(i64::checked_mul)?,
                Op::Div => stack.arith(i64::checked_div)?,
                Op::Rem => stack.arith(i64::checked_rem)?,
                Op::Eq => stack.arith(|a, b| Some(i64::from(a == b)))?,
                Op::Ne => stack.arith(|a, b| Some(i64::from(a != b)))?,
                Op::Lt => stack.arith(|a, b| Some(i64::from(a < b)))?,
                Op::Le => stack.arith(|a, b| Some(i64::from(a <= b)))?,
                Op::Gt => stack.arith(|a, b| Some(i64::from(a > b)))?,
                Op::Ge => stack.arith(|a, b| Some(i64::from(a >= b)))?,
                Op::InRange(low, high) => {
                    let a = stack.pop()?;
                    stack.push(i64::from(low <= a && a <= high))?;
                }
                Op::InList { start, len } => {
                    let a = stack.pop()?;
                    let items = self.items.get(start..start.checked_add(len)?)?;
                    stack.push(i64::from(items.contains(&a)))?;
                }
                Op::JumpIfFalse(target) => {
                    if stack.top()? == 0 {
                        pc = target;
                    } else {
                        stack.pop()?;
                    }
                }
                Op::JumpIfTrue(target) => {
                    if stack.top()? == 0 {
                        stack.pop()?;
                    } else {
                        pc = target;
                    }
                }
            }
        }
        Some(stack.pop()? != 0)
    }
}

/// One operation of a compiled rule. Jump targets are absolute and always forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Push(i64),
    Load(usize),
    Neg,
    Not,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Pops an int, pushes whether it is in `low ..= high`.
    InRange(i64, i64),
    /// Pops an int, pushes whether it is in `items[start .. start + len]`.
    InList {
        start: usize,
        len: usize,
    },
    /// `&&`: if the top is false, jump and keep it (the result); else pop it.
    JumpIfFalse(usize),
    /// `||`: if the top is true, jump and keep it (the result); else pop it.
    JumpIfTrue(usize),
}

impl Op {
    /// How many values the operation pops and then pushes (a jump: when it falls through).
    fn effect(self) -> (usize, usize) {
        match self {
            Op::Push(_) | Op::Load(_) => (0, 1),
            Op::Neg | Op::Not | Op::InRange(..) | Op::InList { .. } => (1, 1),
            Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::Rem
            | Op::Eq
            | Op::Ne
            | Op::Lt
            | Op::Le
            | Op::Gt
            | Op::Ge => (2, 1),
            Op::JumpIfFalse(_) | Op::JumpIfTrue(_) => (1, 0),
        }
    }
}

/// The evaluation stack: fixed size, every access checked (the compile-time depth bound makes
/// a failed access impossible; it would make the rule false, never panic).
struct Stack {
    slots: [i64; RULE_STACK_MAX],
    len: usize,
}

impl Stack {
    fn push(&mut self, value: i64) -> Option<()> {
        *self.slots.get_mut(self.len)? = value;
        self.len += 1;
        Some(())
    }

    fn pop(&mut self) -> Option<i64> {
        self.len = self.len.checked_sub(1)?;
        self.slots.get(self.len).copied()
    }

    fn top(&self) -> Option<i64> {
        self.slots.get(self.len.checked_sub(1)?).copied()
    }

    /// Pops `b` then `a`, pushes `f(a, b)`; `None` if `f` fails.
    fn arith(&mut self, f: impl Fn(i64, i64) -> Option<i64>) -> Option<()> {
        let b = self.pop()?;
        let a = self.pop()?;
        self.push(f(a, b)?)
    }
}

fn error(offset: usize, kind: RuleErrorKind) -> RuleError {
    RuleError { offset, kind }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// The token starting with the punctuation `first`, and its length (`Bad`: none).
fn symbol(first: u8, second: Option<u8>, third: Option<u8>) -> (Kind, usize) {
    match (first, second) {
        (b'&', Some(b'&')) => (Kind::AndAnd, 2),
        (b'|', Some(b'|')) => (Kind::OrOr, 2),
        (b'=', Some(b'=')) => (Kind::EqEq, 2),
        (b'!', Some(b'=')) => (Kind::NotEq, 2),
        (b'<', Some(b'=')) => (Kind::Le, 2),
        (b'>', Some(b'=')) => (Kind::Ge, 2),
        (b'.', Some(b'.')) if third == Some(b'=') => (Kind::DotDotEq, 3),
        (b'!', _) => (Kind::Bang, 1),
        (b'<', _) => (Kind::Lt, 1),
        (b'>', _) => (Kind::Gt, 1),
        (b'(', _) => (Kind::LParen, 1),
        (b')', _) => (Kind::RParen, 1),
        (b'[', _) => (Kind::LBracket, 1),
        (b']', _) => (Kind::RBracket, 1),
        (b',', _) => (Kind::Comma, 1),
        (b'+', _) => (Kind::Plus, 1),
        (b'-', _) => (Kind::Minus, 1),
        (b'*', _) => (Kind::Star, 1),
        (b'/', _) => (Kind::Slash, 1),
        (b'%', _) => (Kind::Percent, 1),
        _ => (Kind::Bad, 0),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An integer literal's magnitude, `u64::MAX` when it does not even fit `u64`.
    Int(u64),
    /// An identifier ending (exclusive) at this byte offset.
    Ident(usize),
    True,
    False,
    In,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    DotDotEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// A byte that starts no token; reported when the parser reaches it, so errors come in
    /// text order.
    Bad,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    Bool,
}

/// A parsed sub-expression: its type and the offset of its first token.
#[derive(Clone, Copy, Debug)]
struct Typed {
    ty: Ty,
    offset: usize,
}

/// A recursive-descent parser that emits postfix code as it goes, with one token of lookahead
/// lexed on demand.
struct Parser<'a> {
    text: &'a [u8],
    variables: &'a [&'a str],
    /// Where the lexer resumes.
    position: usize,
    /// The lookahead.
    token: Token,
    nesting: usize,
    ops: Vec<Op>,
    items: Vec<i64>,
    /// The stack depth after the ops emitted so far (on the fall-through path, which every
    /// jump rejoins at the same depth).
    depth: usize,
    arity: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8], variables: &'a [&'a str]) -> Parser<'a> {
        let mut parser = Parser {
            text,
            variables,
            position: 0,
            token: Token {
                kind: Kind::End,
                offset: 0,
            },
            nesting: 0,
            ops: Vec::new(),
            items: Vec::new(),
            depth: 0,
            arity: 0,
        };
        parser.advance();
        parser
    }

    fn byte(&self, offset: usize) -> Option<u8> {
        self.text.get(offset).copied()
    }

    /// Lexes the next token into the lookahead (a `Bad` token stays put).
    fn advance(&mut self) {
        while self.byte(self.position).is_some_and(is_space) {
            self.position += 1;
        }
        let offset = self.position;
        let (kind, len) = match self.byte(offset) {
            None => (Kind::End, 0),
            Some(b'0'..=b'9') => self.number(offset),
            Some(b'a'..=b'z' | b'_') => self.word(offset),
            Some(first) => symbol(first, self.byte(offset + 1), self.byte(offset + 2)),
        };
        self.position += len;
        self.token = Token { kind, offset };
    }

    fn number(&self, offset: usize) -> (Kind, usize) {
        let mut value = 0u64;
        let mut end = offset;
        while let Some(byte) = self.byte(end) {
            match byte {
                b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                        .unwrap_or(u64::MAX);
                }
                b'_' => {}
                _ => break,
            }
            end += 1;
        }
        (Kind::Int(value), end - offset)
    }

    fn word(&self, offset: usize) -> (Kind, usize) {
        let mut end = offset;
        while self
            .byte(end)
            .is_some_and(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        {
            end += 1;
        }
        let kind = match &self.text[offset..end] {
            b"true" => Kind::True,
            b"false" => Kind::False,
            b"in" => Kind::In,
            _ => Kind::Ident(end),
        };
        (kind, end - offset)
    }

    /// The error for a lookahead the grammar does not allow here.
    fn unexpected(&self) -> RuleError {
        match self.token.kind {
            Kind::End => error(self.text.len(), RuleErrorKind::UnexpectedEnd),
            Kind::Bad => error(self.token.offset, RuleErrorKind::UnexpectedCharacter),
            _ => error(self.token.offset, RuleErrorKind::UnexpectedToken),
        }
    }

    fn expect(&mut self, kind: Kind) -> Result<(), RuleError> {
        if self.token.kind == kind {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// Enters one more level of nesting at the token at `offset`.
    fn enter(&mut self, offset: usize) -> Result<(), RuleError> {
        self.nesting += 1;
        if self.nesting > NESTING_MAX {
            return Err(error(offset, RuleErrorKind::TooComplex));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// Appends `op`, for the token at `offset`, keeping the op count and stack depth in bounds.
    fn emit(&mut self, op: Op, offset: usize) -> Result<(), RuleError> {
        let (pops, pushes) = op.effect();
        let depth = self.depth - pops + pushes;
        if self.ops.len() >= RULE_OPS_MAX || depth > RULE_STACK_MAX {
            return Err(error(offset, RuleErrorKind::TooComplex));
        }
        self.depth = depth;
        self.ops.push(op);
        Ok(())
    }

    fn check(typed: Typed, ty: Ty) -> Result<(), RuleError> {
        if typed.ty == ty {
            Ok(())
        } else {
            Err(error(typed.offset, RuleErrorKind::TypeMismatch))
        }
    }

    fn or(&mut self) -> Result<Typed, RuleError> {
        self.chain(Kind::OrOr, Op::JumpIfTrue, Parser::and)
    }

    fn and(&mut self) -> Result<Typed, RuleError> {
        self.chain(Kind::AndAnd, Op::JumpIfFalse, Parser::not)
    }

    /// `operand (operator operand)*` for a short-circuit `operator`: each operand but the last
    /// is followed by a jump to the end of the chain.
    fn chain(
        &mut self,
        operator: Kind,
        jump: fn(usize) -> Op,
        operand: fn(&mut Self) -> Result<Typed, RuleError>,
    ) -> Result<Typed, RuleError> {
        let first = operand(self)?;
        if self.token.kind != operator {
            return Ok(first);
        }
        Parser::check(first, Ty::Bool)?;
        let mut jumps = Vec::new();
        while self.token.kind == operator {
            jumps.push(self.ops.len());
            self.emit(jump(0), self.token.offset)?;
            self.advance();
            Parser::check(operand(self)?, Ty::Bool)?;
        }
        let end = self.ops.len();
        for at in jumps {
            self.ops[at] = jump(end);
        }
        Ok(Typed {
            ty: Ty::Bool,
            offset: first.offset,
        })
    }

    fn not(&mut self) -> Result<Typed, RuleError> {
        if self.token.kind != Kind::Bang {
            return self.cmp();
        }
        let offset = self.token.offset;
        self.enter(offset)?;
        self.advance();
        let inner = self.not()?;
        self.leave();
        Parser::check(inner, Ty::Bool)?;
        self.emit(Op::Not, offset)?;
        Ok(Typed {
            ty: Ty::Bool,
            offset,
        })
    }

    fn cmp(&mut self) -> Result<Typed, RuleError> {
        let left = self.sum()?;
        let Token { kind, offset } = self.token;
        let op = match kind {
            Kind::EqEq => Op::Eq,
            Kind::NotEq => Op::Ne,
            Kind::Lt => Op::Lt,
            Kind::Le => Op::Le,
            Kind::Gt => Op::Gt,
            Kind::Ge => Op::Ge,
            Kind::In => {
                Parser::check(left, Ty::Int)?;
                self.advance();
                self.membership(offset)?;
                return Ok(Typed {
                    ty: Ty::Bool,
                    offset: left.offset,
                });
            }
            _ => return Ok(left),
        };
        let equality = matches!(op, Op::Eq | Op::Ne);
        if !equality {
            Parser::check(left, Ty::Int)?;
        }
        self.advance();
        let right = self.sum()?;
        if equality {
            if left.ty != right.ty {
                return Err(error(offset, RuleErrorKind::TypeMismatch));
            }
        } else {
            Parser::check(right, Ty::Int)?;
        }
        self.emit(op, offset)?;
        Ok(Typed {
            ty: Ty::Bool,
            offset: left.offset,
        })
    }

    /// After `in` (at `offset`): a list `[lit, ...]` or a range `lit..=lit`.
    fn membership(&mut self, offset: usize) -> Result<(), RuleError> {
        if self.token.kind != Kind::LBracket {
            let low = self.literal()?;
            self.expect(Kind::DotDotEq)?;
            let high = self.literal()?;
            return self.emit(Op::InRange(low, high), offset);
        }
        self.advance();
        let start = self.items.len();
        loop {
            if self.items.len() - start == LIST_MAX {
                return Err(error(self.token.offset, RuleErrorKind::TooComplex));
            }
            let item = self.literal()?;
            self.items.push(item);
            match self.token.kind {
                Kind::Comma => self.advance(),
                Kind::RBracket => break,
                _ => return Err(self.unexpected()),
            }
        }
        self.advance();
        let len = self.items.len() - start;
        self.emit(Op::InList { start, len }, offset)
    }

    /// A list item or range bound: an integer literal with an optional `-`.
    fn literal(&mut self) -> Result<i64, RuleError> {
        let negative = self.token.kind == Kind::Minus;
        if negative {
            self.advance();
        }
        let Kind::Int(magnitude) = self.token.kind else {
            return Err(self.unexpected());
        };
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        let value = value.ok_or(error(self.token.offset, RuleErrorKind::NumberTooLarge))?;
        self.advance();
        Ok(value)
    }

    fn sum(&mut self) -> Result<Typed, RuleError> {
        self.arith(
            |kind| match kind {
                Kind::Plus => Some(Op::Add),
                Kind::Minus => Some(Op::Sub),
                _ => None,
            },
            Parser::prod,
        )
    }

    fn prod(&mut self) -> Result<Typed, RuleError> {
        self.arith(
            |kind| match kind {
                Kind::Star => Some(Op::Mul),
                Kind::Slash => Some(Op::Div),
                Kind::Percent => Some(Op::Rem),
                _ => None,
            },
            Parser::unary,
        )
    }

    /// `operand (operator operand)*`, left-associative, on ints.
    fn arith(
        &mut self,
        operator: fn(Kind) -> Option<Op>,
        operand: fn(&mut Self) -> Result<Typed, RuleError>,
    ) -> Result<Typed, RuleError> {
        let left = operand(self)?;
        let mut op_seen = false;
        while let Some(op) = operator(self.token.kind) {
            let offset = self.token.offset;
            Parser::check(left, Ty::Int)?;
            self.advance();
            Parser::check(operand(self)?, Ty::Int)?;
            self.emit(op, offset)?;
            op_seen = true;
        }
        Ok(if op_seen {
            Typed {
                ty: Ty::Int,
                offset: left.offset,
            }
        } else {
            left
        })
    }

    fn unary(&mut self) -> Result<Typed, RuleError> {
        if self.token.kind != Kind::Minus {
            return self.atom();
        }
        let offset = self.token.offset;
        self.enter(offset)?;
        self.advance();
        let start = self.ops.len();
        let inner = self.unary()?;
        self.leave();
        Parser::check(inner, Ty::Int)?;
        // Fold the negation of a lone constant (a negative literal) into the constant.
        let folded = match self.ops.get(start..) {
            Some([Op::Push(value)]) => value.checked_neg(),
            _ => None,
        };
        if let Some(value) = folded {
            self.ops[start] = Op::Push(value);
        } else {
            self.emit(Op::Neg, offset)?;
        }
        Ok(Typed {
            ty: Ty::Int,
            offset,
        })
    }

    fn atom(&mut self) -> Result<Typed, RuleError> {
        let Token { kind, offset } = self.token;
        let (op, ty) = match kind {
            Kind::Int(magnitude) => {
                let value = i64::try_from(magnitude)
                    .map_err(|_| error(offset, RuleErrorKind::NumberTooLarge))?;
                (Op::Push(value), Ty::Int)
            }
            Kind::Ident(end) => {
                let name = &self.text[offset..end];
                let index = self
                    .variables
                    .iter()
                    .position(|v| v.as_bytes() == name)
                    .ok_or(error(offset, RuleErrorKind::UnknownVariable))?;
                self.arity = self.arity.max(index + 1);
                (Op::Load(index), Ty::Int)
            }
            Kind::True => (Op::Push(1), Ty::Bool),
            Kind::False => (Op::Push(0), Ty::Bool),
            Kind::LParen => {
                self.enter(offset)?;
                self.advance();
                let inner = self.or()?;
                self.expect(Kind::RParen)?;
                self.leave();
                return Ok(Typed {
                    ty: inner.ty,
                    offset,
                });
            }
            _ => return Err(self.unexpected()),
        };
        self.emit(op, offset)?;
        self.advance();
        Ok(Typed { ty, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VARS: [&str; 3] = ["a", "b", "amount_2"];

    fn rule(text: &str) -> Rule {
        Rule::compile(text, &VARS).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn eval(text: &str, values: [i64; 3]) -> bool {
        let rule = rule(text);
        check_program(&rule);
        rule.eval(&values)
    }

    fn fails(text: &str) -> (usize, RuleErrorKind) {
        let e = Rule::compile(text, &VARS).expect_err(text);
        (e.offset, e.kind)
    }

    /// Checks the program independently of the compiler's bookkeeping, following both sides of
    /// every jump: jumps go forward, every op is reached, paths meet at the same depth, the stack
    /// never underflows nor exceeds `RULE_STACK_MAX`, the program ends with exactly one value,
    /// loads and lists stay in bounds.
    fn check_program(rule: &Rule) {
        let n = rule.ops.len();
        assert!(n <= RULE_OPS_MAX, "{rule:?}");
        let mut depth_at: Vec<Option<usize>> = vec![None; n + 1];
        depth_at[0] = Some(0);
        let meet = |depth_at: &mut Vec<Option<usize>>, at: usize, depth: usize| {
            let slot = &mut depth_at[at];
            assert!(
                slot.is_none_or(|d| d == depth),
                "paths meet at {at}: {rule:?}"
            );
            *slot = Some(depth);
        };
        for (pc, &op) in rule.ops.iter().enumerate() {
            let depth = depth_at[pc].unwrap_or_else(|| panic!("{pc} unreached: {rule:?}"));
            let (pops, pushes) = op.effect();
            assert!(depth >= pops, "underflow at {pc}: {rule:?}");
            match op {
                Op::JumpIfFalse(target) | Op::JumpIfTrue(target) => {
                    assert!(target > pc && target <= n, "{rule:?}");
                    meet(&mut depth_at, target, depth);
                }
                Op::Load(index) => assert!(index < rule.arity, "{rule:?}"),
                Op::InList { start, len } => {
                    assert!(len >= 1 && start + len <= rule.items.len(), "{rule:?}");
                }
                _ => {}
            }
            let after = depth - pops + pushes;
            assert!(after <= RULE_STACK_MAX, "overflow at {pc}: {rule:?}");
            meet(&mut depth_at, pc + 1, after);
        }
        assert_eq!(depth_at[n], Some(1), "{rule:?}");
    }

    // Goal: precedence follows the grammar: * over +, + over comparisons, comparisons over !,
    // ! over &&, && over ||; arithmetic is left-associative and truncates toward zero.
    #[test]
    fn precedence() {
        assert!(eval("1 + 2 * 3 == 7", [0; 3]));
        assert!(!eval("1 + 2 * 3 == 9", [0; 3]));
        assert!(eval("(1 + 2) * 3 == 9", [0; 3]));
        assert!(eval("10 - 3 - 2 == 5", [0; 3]));
        assert!(eval("64 / 4 / 2 == 8", [0; 3]));
        assert!(eval("2 * 7 % 4 == 2", [0; 3]));
        assert!(eval("-7 / 2 == -3 && -7 % 2 == -1 && 7 % -2 == 1", [0; 3]));
        assert!(eval("- - 5 == 5 && -(2 - 7) == 5 && 3 - -2 == 5", [0; 3]));
        assert!(eval("true || false && false", [0; 3]));
        assert!(!eval("(true || false) && false", [0; 3]));
        assert!(eval("!false && true", [0; 3]));
        assert!(!eval("!true || false", [0; 3]));
        // `!a > 1` is `!(a > 1)`.
        assert!(eval("!a > 1", [1, 0, 0]));
        assert!(!eval("!a > 1", [2, 0, 0]));
        let text = "!(a > 1) || b == 2";
        assert!(eval(text, [1, 0, 0]));
        assert!(eval(text, [5, 2, 0]));
        assert!(!eval(text, [5, 3, 0]));
        assert!(eval("amount_2 >= 10_000", [0, 0, 10_000]));
        assert!(!eval("amount_2 >= 10_000", [0, 0, 9_999]));
        assert!(eval("a\t<\nb\r\n", [1, 2, 0]));
    }

    // Goal: the brief's example behaves as read, with variables taken by index.
    #[test]
    fn campaign_example() {
        let rule = Rule::compile(
            "amount >= 10000 && (bin in 622200..=622299 || issuer == 3) && hour < 2",
            &["hour", "amount", "bin", "issuer"],
        )
        .expect("compiles");
        check_program(&rule);
        assert!(rule.eval(&[1, 10_000, 622_250, 0]));
        assert!(rule.eval(&[0, 50_000, 100, 3]));
        assert!(!rule.eval(&[2, 50_000, 622_200, 3]));
        assert!(!rule.eval(&[0, 9_999, 622_200, 3]));
        assert!(!rule.eval(&[0, 10_000, 622_300, 4]));
        assert!(rule.eval(&[0, 10_000, 622_299, 4]));
        // Longer `values` are fine.
        assert!(rule.eval(&[0, 10_000, 622_299, 4, 77]));
    }

    // Goal: && and || skip their right side, so a guarded division is true-able and an
    // unguarded failure on the skipped side does not count.
    #[test]
    fn short_circuit() {
        let guarded = "b != 0 && a / b > 3";
        assert!(!eval(guarded, [10, 0, 0]));
        assert!(eval(guarded, [10, 2, 0]));
        assert!(!eval(guarded, [6, 2, 0]));
        let either = "b == 0 || a / b > 3";
        assert!(eval(either, [10, 0, 0]));
        assert!(eval(either, [10, 2, 0]));
        assert!(!eval(either, [6, 2, 0]));
        assert!(eval("true || a + 1 > 0", [i64::MAX, 0, 0]));
        assert!(eval("false && a + 1 > 0 || a > 0", [i64::MAX, 0, 0]));
        // Chains jump to their end from every operand.
        assert!(!eval("false && a / b == 0 && a / b == 0", [1, 0, 0]));
        assert!(eval("true || a / b == 0 || a / b == 0", [1, 0, 0]));
        assert!(eval("false || false || true", [0; 3]));
        assert!(!eval("true && true && false", [0; 3]));
    }

    // Goal: any arithmetic failure that is evaluated makes the whole rule false, even under `!`
    // or on the left of a `||` that would otherwise be true.
    #[test]
    fn arithmetic_failure_is_false() {
        assert!(!eval("a * a > 0", [i64::MAX, 0, 0]));
        assert!(eval("a * a > 0", [3_037_000_499, 0, 0]));
        assert!(!eval("!(a * a > 0)", [i64::MAX, 0, 0]));
        assert!(!eval("a + 1 > 0 || true", [i64::MAX, 0, 0]));
        assert!(!eval("a - 1 < 0", [i64::MIN, 0, 0]));
        assert!(!eval("a / 0 == 0", [5, 0, 0]));
        assert!(!eval("a % b == 0", [5, 0, 0]));
        assert!(!eval("a / b == 0 || true", [5, 0, 0]));
        assert!(!eval("a / b != 0", [i64::MIN, -1, 0]));
        assert!(!eval("a % b == 0", [i64::MIN, -1, 0]));
        assert!(eval("a % b == 0", [i64::MIN, 1, 0]));
        assert!(!eval("-a != 0", [i64::MIN, 0, 0]));
        assert!(eval(
            "a + 9223372036854775807 == 9223372036854775806",
            [-1, 0, 0]
        ));
        assert!(!eval("a in [1, 2] && true", [i64::MAX, 0, 0]));
        assert!(!eval("a + 1 in [0]", [i64::MAX, 0, 0]));
        assert!(!eval("a + 1 in 0..=9", [i64::MAX, 0, 0]));
    }

    // Goal: `in` lists and inclusive ranges, with negative items, i64 extremes and empty ranges.
    #[test]
    fn membership() {
        for (value, expected) in [(-5, true), (0, true), (7, true), (5, false), (-7, false)] {
            assert_eq!(eval("a in [-5, 0, 7]", [value, 0, 0]), expected, "{value}");
        }
        for (value, expected) in [
            (-11, false),
            (-10, true),
            (-7, true),
            (-5, true),
            (-4, false),
        ] {
            assert_eq!(eval("a in -10..=-5", [value, 0, 0]), expected, "{value}");
        }
        assert!(!eval("a in 5..=1", [3, 0, 0]));
        assert!(!eval("a in 5..=1", [5, 0, 0]));
        assert!(eval("a in 5..=5", [5, 0, 0]));
        assert!(eval("a in [-9223372036854775808]", [i64::MIN, 0, 0]));
        assert!(eval(
            "a in -9_223_372_036_854_775_808..=-1",
            [i64::MIN, 0, 0]
        ));
        assert!(eval("a in 0..=9223372036854775807", [i64::MAX, 0, 0]));
        assert!(eval("a + b in [3]", [1, 2, 0]));
        assert!(eval("!a in [1]", [2, 0, 0]));
        assert!(!eval("!a in [1]", [1, 0, 0]));
        assert!(eval("(a in [1]) == false", [2, 0, 0]));
        let sixteen = "a in [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]";
        assert!(eval(sixteen, [16, 0, 0]));
        assert!(!eval(sixteen, [17, 0, 0]));
        assert!(eval(
            "a in [1] && b in [2, 3] && amount_2 in [4]",
            [1, 3, 4]
        ));
        assert!(!eval(
            "a in [1] && b in [2, 3] && amount_2 in [4]",
            [1, 4, 4]
        ));
    }

    // Goal: == and != compare bools as well as ints.
    #[test]
    fn bools_compare() {
        assert!(eval(
            "true == true && false == false && true != false",
            [0; 3]
        ));
        assert!(!eval("true == false", [0; 3]));
        let same = "(a > 1) == (b > 1)";
        assert!(eval(same, [2, 2, 0]));
        assert!(eval(same, [0, 0, 0]));
        assert!(!eval(same, [2, 0, 0]));
        assert!(eval("(a > 1) != (b > 1)", [2, 0, 0]));
        assert!(eval("true", [0; 3]));
        assert!(!eval("false", [0; 3]));
    }

    // Goal: a variable listed twice is its first index; unreferenced variables need no value.
    #[test]
    fn variables_by_index() {
        let rule = Rule::compile("x == 1", &["y", "x", "x"]).expect("compiles");
        assert!(rule.eval(&[0, 1, 2]));
        assert!(!rule.eval(&[1, 2, 1]));
        // Only `x` (index 1) is referred to: two values are enough.
        assert!(rule.eval(&[9, 1]));
        let constant = Rule::compile("1 < 2", &[]).expect("compiles");
        assert!(constant.eval(&[]));
    }

    // Goal: too few values is the documented panic, and it happens whatever path is taken.
    #[test]
    fn too_few_values_panics() {
        let rule = rule("true || b > 0");
        let outcome = std::panic::catch_unwind(|| rule.eval(&[1]));
        assert!(outcome.is_err());
        assert!(rule.eval(&[1, 2]));
    }

    // Goal: every error kind, at the exact byte where it is found.
    #[test]
    fn error_empty_and_too_long() {
        assert_eq!(fails(""), (0, RuleErrorKind::Empty));
        assert_eq!(fails(" \t\n\r "), (0, RuleErrorKind::Empty));
        let padded = format!("true{}", " ".repeat(RULE_TEXT_MAX - 4));
        assert!(Rule::compile(&padded, &VARS).is_ok());
        let over = format!("{padded} ");
        assert_eq!(fails(&over), (RULE_TEXT_MAX, RuleErrorKind::TooLong));
        assert_eq!(
            fails(&"é".repeat(200)),
            (RULE_TEXT_MAX, RuleErrorKind::TooLong)
        );
    }

    #[test]
    fn error_unexpected_character() {
        use RuleErrorKind::UnexpectedCharacter as C;
        assert_eq!(fails("a > 1 & b > 1"), (6, C));
        assert_eq!(fails("a | b"), (2, C));
        assert_eq!(fails("a = 1"), (2, C));
        assert_eq!(fails("A > 1"), (0, C));
        assert_eq!(fails("bX > 1"), (1, C));
        assert_eq!(fails("a > é"), (4, C));
        assert_eq!(fails("a in 1..2"), (6, C));
        assert_eq!(fails("a in 1.=2"), (6, C));
        assert_eq!(fails("a > 1 # comment"), (6, C));
        assert_eq!(fails("a\u{0}"), (1, C));
        // Found in text order: the type error comes first here.
        assert_eq!(fails("true || 1 @"), (8, RuleErrorKind::TypeMismatch));
    }

    #[test]
    fn error_unexpected_end() {
        use RuleErrorKind::UnexpectedEnd as E;
        assert_eq!(fails("a >"), (3, E));
        assert_eq!(fails("(a > 1 "), (7, E));
        assert_eq!(fails("a > 1 &&"), (8, E));
        assert_eq!(fails("a in [1, "), (9, E));
        assert_eq!(fails("a in 1..="), (9, E));
        assert_eq!(fails("!"), (1, E));
    }

    #[test]
    fn error_unexpected_token() {
        use RuleErrorKind::UnexpectedToken as T;
        assert_eq!(fails("a > > 1"), (4, T));
        assert_eq!(fails("1 < 2 < 3"), (6, T));
        assert_eq!(fails("a == 1 == true"), (7, T));
        assert_eq!(fails("a in [1,]"), (8, T));
        assert_eq!(fails("a in []"), (6, T));
        assert_eq!(fails("a in [1 2]"), (8, T));
        assert_eq!(fails("a in b"), (5, T));
        assert_eq!(fails("a in 1"), (6, RuleErrorKind::UnexpectedEnd));
        assert_eq!(fails("a in 1..=b"), (9, T));
        assert_eq!(fails("true true"), (5, T));
        assert_eq!(fails("a > 1)"), (5, T));
        assert_eq!(fails("10abc > 1"), (2, T));
        assert_eq!(fails("in"), (0, T));
        assert_eq!(fails("a in [1] == true"), (9, T));
    }

    #[test]
    fn error_number_too_large() {
        use RuleErrorKind::NumberTooLarge as N;
        assert!(Rule::compile("a > 9223372036854775807", &VARS).is_ok());
        assert_eq!(fails("a > 9223372036854775808"), (4, N));
        assert_eq!(fails("a > -9223372036854775808"), (5, N));
        assert_eq!(fails("a > 99999999999999999999999999"), (4, N));
        assert_eq!(fails("a in [1, -9223372036854775809]"), (10, N));
        assert_eq!(fails("a in [9223372036854775808]"), (6, N));
        assert_eq!(fails("a in 0..=9_223_372_036_854_775_808"), (9, N));
    }

    #[test]
    fn error_unknown_variable() {
        use RuleErrorKind::UnknownVariable as U;
        let e = Rule::compile("amount > 1 && bogus == 2", &["amount"]).expect_err("unknown");
        assert_eq!((e.offset, e.kind), (14, U));
        assert_eq!(e.to_string(), "unknown variable at byte 14");
        assert_eq!(fails("_ > 1"), (0, U));
        assert_eq!(fails("amount > 1"), (0, U));
        assert_eq!(fails("a > 1 || a2 > 1"), (9, U));
    }

    #[test]
    fn error_type_mismatch() {
        use RuleErrorKind::TypeMismatch as M;
        assert_eq!(fails("a + 1"), (0, M));
        assert_eq!(fails("  a"), (0, M));
        assert_eq!(fails("true + 1 > 0"), (0, M));
        assert_eq!(fails("1 + true > 0"), (4, M));
        assert_eq!(fails("a > 1 && 2"), (9, M));
        assert_eq!(fails("a || true"), (0, M));
        assert_eq!(fails("1 == true"), (2, M));
        assert_eq!(fails("(a > 1) != 1"), (8, M));
        assert_eq!(fails("!a"), (1, M));
        assert_eq!(fails("-true == false"), (1, M));
        assert_eq!(fails("true in [1]"), (0, M));
        assert_eq!(fails("(a > 1) < 2"), (0, M));
        assert_eq!(fails("a < (b > 1)"), (4, M));
        assert_eq!(fails("a * (b > 1) > 0"), (4, M));
        assert_eq!(fails("true && (false || 3)"), (18, M));
        assert_eq!(
            RuleError { offset: 3, kind: M }.to_string(),
            "type mismatch at byte 3"
        );
    }

    #[test]
    fn error_too_complex() {
        use RuleErrorKind::TooComplex as X;
        // Nesting: 32 is fine, the 33rd level is refused where it opens.
        let ok = format!("{}true{}", "(".repeat(32), ")".repeat(32));
        assert!(Rule::compile(&ok, &VARS).is_ok());
        let deep = format!("{}true{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(fails(&deep), (32, X));
        assert!(Rule::compile(&format!("{}true", "!".repeat(32)), &VARS).is_ok());
        assert_eq!(fails(&format!("{}true", "!".repeat(33))), (32, X));
        assert_eq!(fails(&format!("{}1 > 0", "-".repeat(40))), (32, X));
        let hostile = "(".repeat(RULE_TEXT_MAX);
        assert_eq!(fails(&hostile), (32, X));
        // Operations: exactly RULE_OPS_MAX compiles; one more is refused at its operator.
        let full = format!("{}a>-a", "a+".repeat(30));
        let full_rule = rule(&full);
        assert_eq!(full_rule.ops.len(), RULE_OPS_MAX);
        assert!(full_rule.eval(&[1, 0, 0]));
        assert!(!full_rule.eval(&[-1, 0, 0]));
        assert_eq!(fails(&format!("{}a>0", "a+".repeat(31))), (63, X));
        // Stack: 16 values deep compiles, 17 is refused at the 17th push.
        let sixteen = format!("{}a{} > 0", "a+(".repeat(15), ")".repeat(15));
        assert!(eval(&sixteen, [1, 0, 0]));
        let seventeen = format!("{}a{} > 0", "a+(".repeat(16), ")".repeat(16));
        assert_eq!(fails(&seventeen), (48, X));
        // Lists: 16 items, the 17th is refused where it starts.
        let list = "a in [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]";
        assert_eq!(fails(list), (list.find("17").expect("17"), X));
    }

    /// A well-typed int expression over three variables.
    #[derive(Clone, Debug)]
    enum IntTree {
        Lit(i64),
        Var(usize),
        Neg(Box<IntTree>),
        Arith(Arith, Box<IntTree>, Box<IntTree>),
    }

    #[derive(Clone, Copy, Debug)]
    enum Arith {
        Add,
        Sub,
        Mul,
        Div,
        Rem,
    }

    #[derive(Clone, Copy, Debug)]
    enum Order {
        Eq,
        Ne,
        Lt,
        Le,
        Gt,
        Ge,
    }

    /// A well-typed bool expression.
    #[derive(Clone, Debug)]
    enum BoolTree {
        Lit(bool),
        Not(Box<BoolTree>),
        And(Box<BoolTree>, Box<BoolTree>),
        Or(Box<BoolTree>, Box<BoolTree>),
        Compare(Order, IntTree, IntTree),
        /// `==` (true) or `!=` (false) on two bools.
        Same(bool, Box<BoolTree>, Box<BoolTree>),
        InList(IntTree, Vec<i64>),
        InRange(IntTree, i64, i64),
    }

    // Precedence levels, loosest first, for rendering with only the parentheses needed.
    const OR: u8 = 1;
    const AND: u8 = 2;
    const NOT: u8 = 3;
    const CMP: u8 = 4;
    const SUM: u8 = 5;
    const PROD: u8 = 6;
    const UNARY: u8 = 7;

    fn wrap(level: u8, min: u8, text: String) -> String {
        if level < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn digits(value: u64) -> String {
        let plain = value.to_string();
        if value < 1000 || value % 2 == 1 {
            return plain;
        }
        // Even values of four digits or more get `_` separators.
        let mut out = String::new();
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && (plain.len() - i).is_multiple_of(3) {
                out.push('_');
            }
            out.push(c);
        }
        out
    }

    fn item(value: i64) -> String {
        if value < 0 {
            format!("-{}", digits(value.unsigned_abs()))
        } else {
            digits(value.unsigned_abs())
        }
    }

    fn render_int(tree: &IntTree, min: u8, gap: &str) -> String {
        match tree {
            IntTree::Lit(v) if *v < 0 => wrap(UNARY, min, item(*v)),
            IntTree::Lit(v) => item(*v),
            IntTree::Var(i) => VARS[*i].to_string(),
            IntTree::Neg(x) => wrap(UNARY, min, format!("-{}", render_int(x, UNARY, gap))),
            IntTree::Arith(op, l, r) => {
                let (level, symbol) = match op {
                    Arith::Add => (SUM, "+"),
                    Arith::Sub => (SUM, "-"),
                    Arith::Mul => (PROD, "*"),
                    Arith::Div => (PROD, "/"),
                    Arith::Rem => (PROD, "%"),
                };
                let l = render_int(l, level, gap);
                let r = render_int(r, level + 1, gap);
                wrap(level, min, format!("{l}{gap}{symbol}{gap}{r}"))
            }
        }
    }

    fn render_bool(tree: &BoolTree, min: u8, gap: &str) -> String {
        match tree {
            BoolTree::Lit(b) => b.to_string(),
            BoolTree::Not(x) => wrap(NOT, min, format!("!{}", render_bool(x, NOT, gap))),
            BoolTree::And(l, r) | BoolTree::Or(l, r) => {
                let (level, symbol) = if matches!(tree, BoolTree::And(..)) {
                    (AND, "&&")
                } else {
                    (OR, "||")
                };
                let l = render_bool(l, level, gap);
                let r = render_bool(r, level + 1, gap);
                wrap(level, min, format!("{l}{gap}{symbol}{gap}{r}"))
            }
            BoolTree::Compare(op, l, r) => {
                let symbol = match op {
                    Order::Eq => "==",
                    Order::Ne => "!=",
                    Order::Lt => "<",
                    Order::Le => "<=",
                    Order::Gt => ">",
                    Order::Ge => ">=",
                };
                let l = render_int(l, SUM, gap);
                let r = render_int(r, SUM, gap);
                wrap(CMP, min, format!("{l}{gap}{symbol}{gap}{r}"))
            }
            BoolTree::Same(equal, l, r) => {
                let symbol = if *equal { "==" } else { "!=" };
                let l = render_bool(l, SUM, gap);
                let r = render_bool(r, SUM, gap);
                wrap(CMP, min, format!("{l}{gap}{symbol}{gap}{r}"))
            }
            BoolTree::InList(x, items) => {
                let items: Vec<String> = items.iter().map(|v| item(*v)).collect();
                let x = render_int(x, SUM, gap);
                wrap(CMP, min, format!("{x} in [{}]", items.join(",")))
            }
            BoolTree::InRange(x, low, high) => {
                let x = render_int(x, SUM, gap);
                wrap(CMP, min, format!("{x} in {}..={}", item(*low), item(*high)))
            }
        }
    }

    /// The reference: exact arithmetic in i128, `None` when a result leaves i64 or divides by
    /// zero.
    fn reference_int(tree: &IntTree, values: &[i64; 3]) -> Option<i128> {
        let exact = match tree {
            IntTree::Lit(v) => i128::from(*v),
            IntTree::Var(i) => i128::from(values[*i]),
            IntTree::Neg(x) => -reference_int(x, values)?,
            IntTree::Arith(op, l, r) => {
                let a = reference_int(l, values)?;
                let b = reference_int(r, values)?;
                match op {
                    Arith::Add => a + b,
                    Arith::Sub => a - b,
                    Arith::Mul => a * b,
                    Arith::Div if b == 0 => return None,
                    Arith::Div => a / b,
                    // Like `checked_rem`, i64::MIN % -1 fails: its quotient overflows.
                    Arith::Rem if b == 0 || b == -1 && a == i128::from(i64::MIN) => return None,
                    Arith::Rem => a % b,
                }
            }
        };
        let fits = i128::from(i64::MIN) <= exact && exact <= i128::from(i64::MAX);
        fits.then_some(exact)
    }

    fn reference_bool(tree: &BoolTree, values: &[i64; 3]) -> Option<bool> {
        Some(match tree {
            BoolTree::Lit(b) => *b,
            BoolTree::Not(x) => !reference_bool(x, values)?,
            BoolTree::And(l, r) => reference_bool(l, values)? && reference_bool(r, values)?,
            BoolTree::Or(l, r) => reference_bool(l, values)? || reference_bool(r, values)?,
            BoolTree::Compare(op, l, r) => {
                let a = reference_int(l, values)?;
                let b = reference_int(r, values)?;
                match op {
                    Order::Eq => a == b,
                    Order::Ne => a != b,
                    Order::Lt => a < b,
                    Order::Le => a <= b,
                    Order::Gt => a > b,
                    Order::Ge => a >= b,
                }
            }
            BoolTree::Same(equal, l, r) => {
                let a = reference_bool(l, values)?;
                let b = reference_bool(r, values)?;
                (a == b) == *equal
            }
            BoolTree::InList(x, items) => {
                let v = reference_int(x, values)?;
                items.iter().any(|item| i128::from(*item) == v)
            }
            BoolTree::InRange(x, low, high) => {
                let v = reference_int(x, values)?;
                i128::from(*low) <= v && v <= i128::from(*high)
            }
        })
    }

    /// Values that make overflow and division by zero common.
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            4 => -12i64..=12,
            1 => Just(i64::MAX),
            1 => Just(i64::MIN),
            1 => Just(i64::MAX / 2 + 1),
            1 => Just(-3_037_000_500i64),
            2 => any::<i64>(),
        ]
    }

    fn int_tree(depth: u32) -> BoxedStrategy<IntTree> {
        let leaf = prop_oneof![
            // i64::MIN has no literal outside lists.
            value().prop_map(|v| IntTree::Lit(v.max(i64::MIN + 1))),
            (0..3usize).prop_map(IntTree::Var),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        let sub = int_tree(depth - 1);
        let arith = prop_oneof![
            Just(Arith::Add),
            Just(Arith::Sub),
            Just(Arith::Mul),
            Just(Arith::Div),
            Just(Arith::Rem),
        ];
        prop_oneof![
            2 => leaf,
            1 => sub.clone().prop_map(|x| IntTree::Neg(Box::new(x))),
            3 => (arith, sub.clone(), sub)
                .prop_map(|(op, l, r)| IntTree::Arith(op, Box::new(l), Box::new(r))),
        ]
        .boxed()
    }

    fn bool_tree(depth: u32) -> BoxedStrategy<BoolTree> {
        let leaf = any::<bool>().prop_map(BoolTree::Lit);
        if depth == 0 {
            return leaf.boxed();
        }
        let sub = bool_tree(depth - 1);
        let int = int_tree(depth - 1);
        let order = prop_oneof![
            Just(Order::Eq),
            Just(Order::Ne),
            Just(Order::Lt),
            Just(Order::Le),
            Just(Order::Gt),
            Just(Order::Ge),
        ];
        prop_oneof![
            1 => leaf,
            1 => sub.clone().prop_map(|x| BoolTree::Not(Box::new(x))),
            2 => (sub.clone(), sub.clone())
                .prop_map(|(l, r)| BoolTree::And(Box::new(l), Box::new(r))),
            2 => (sub.clone(), sub.clone())
                .prop_map(|(l, r)| BoolTree::Or(Box::new(l), Box::new(r))),
            3 => (order, int.clone(), int.clone())
                .prop_map(|(op, l, r)| BoolTree::Compare(op, l, r)),
            1 => (any::<bool>(), sub.clone(), sub)
                .prop_map(|(eq, l, r)| BoolTree::Same(eq, Box::new(l), Box::new(r))),
            1 => (int.clone(), proptest::collection::vec(value(), 1..=4))
                .prop_map(|(x, items)| BoolTree::InList(x, items)),
            1 => (int, value(), value()).prop_map(|(x, low, high)| BoolTree::InRange(x, low, high)),
        ]
        .boxed()
    }

    /// Tokens and junk: strung together they make near-rules.
    fn piece() -> impl Strategy<Value = &'static str> {
        const PIECES: &str = "a b amount_2 zz 0 1 7 - + * / % ( ) [ ] , ..= in true false ! && || \
            == != < <= > >= 9223372036854775807 9223372036854775808 _ é & . \t";
        proptest::sample::select(PIECES.split(' ').collect::<Vec<_>>())
    }

    fn soup() -> impl Strategy<Value = String> {
        (proptest::collection::vec(piece(), 0..24), any::<bool>())
            .prop_map(|(pieces, spaced)| pieces.join(if spaced { " " } else { "" }))
    }

    /// A well-typed rule with up to three random edits (delete a few bytes, insert a piece).
    fn mutated() -> impl Strategy<Value = String> {
        let edit = (any::<proptest::sample::Index>(), 0..4usize, piece());
        (bool_tree(3), proptest::collection::vec(edit, 0..4)).prop_map(|(tree, edits)| {
            let mut text = render_bool(&tree, OR, " ").into_bytes();
            for (at, delete, insert) in edits {
                let at = at.index(text.len() + 1);
                let end = (at + delete).min(text.len());
                text.splice(at..end, insert.bytes());
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    }

    /// Compiling never panics; an error points inside the text (or at its end); a rule passes
    /// the program check and evaluates without panicking.
    fn exercise(text: &str, values: &[i64; 3]) -> Result<(), TestCaseError> {
        match Rule::compile(text, &VARS) {
            Ok(rule) => {
                check_program(&rule);
                let _ = rule.eval(values);
            }
            Err(e) => {
                prop_assert!(e.offset <= text.len(), "{text:?}: {e}");
                if e.kind == RuleErrorKind::UnexpectedEnd {
                    prop_assert_eq!(e.offset, text.len());
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        // Goal: over random well-typed trees (depth <= 4) rendered with minimal parentheses,
        // compile accepts them (unless too long or complex) and eval agrees with a recursive
        // i128 evaluator that fails the whole rule on any evaluated overflow or zero divisor.
        #[test]
        fn eval_matches_reference(
            tree in bool_tree(4),
            values in proptest::array::uniform3(value()),
            spaced in proptest::bool::ANY,
        ) {
            let text = render_bool(&tree, OR, if spaced { " " } else { "" });
            match Rule::compile(&text, &VARS) {
                Ok(rule) => {
                    check_program(&rule);
                    let expected = reference_bool(&tree, &values).unwrap_or(false);
                    prop_assert_eq!(rule.eval(&values), expected, "{}", text);
                }
                Err(e) => prop_assert!(
                    matches!(e.kind, RuleErrorKind::TooComplex | RuleErrorKind::TooLong),
                    "{:?}: {}", text, e
                ),
            }
        }

        // Goal: compile never panics on any text, and whatever compiles evaluates.
        #[test]
        fn never_panics(
            printable in "[ -~]{0,250}",
            bytes in proptest::collection::vec(any::<u8>(), 0..250),
            tokens in soup(),
            near in mutated(),
            values in proptest::array::uniform3(value()),
        ) {
            exercise(&printable, &values)?;
            exercise(&String::from_utf8_lossy(&bytes), &values)?;
            exercise(&tokens, &values)?;
            exercise(&near, &values)?;
        }
    }
}
