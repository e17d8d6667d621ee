//! The equi-join index MERGE uses to find each target row's source rows: when the ON condition
//! is a conjunction containing `target.col = source.col` terms, source rows are bucketed by
//! those columns' values, so a merge of n rows into n rows costs O(n) instead of comparing every
//! pair (which took minutes for seed tables of tens of thousands of rows). The index only
//! narrows the candidates: MERGE still evaluates the full ON condition on each of them, so the
//! result is the nested loop's, row for row and in the same order.

use std::collections::HashMap;

use super::ast::CmpOp;
use super::eval::Bound;
use super::types::Value;

/// A key column's value in a form where SQL-equal values are equal (and hash alike). Only
/// values whose SQL equality is exact are keyed; DOUBLE and FLOAT (and any mix of kinds that
/// SQL would compare through a cast) leave the join to the nested loop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyPart {
    Str(String),
    /// INT family and DECIMAL: the unscaled value and scale with trailing zeros removed, so
    /// `5`, `5.0` and `5.00` are one key.
    Number(i128, u8),
    Bool(bool),
    Date(i32),
    Timestamp(i64),
}

impl KeyPart {
    /// `Ok(None)` for NULL (which `=` never matches); `Err` for a value that cannot be keyed.
    fn of(value: &Value) -> Result<Option<KeyPart>, ()> {
        Ok(Some(match value {
            Value::Null => return Ok(None),
            Value::Str(s) => KeyPart::Str(s.clone()),
            Value::Int(i) => KeyPart::Number(i128::from(*i), 0),
            Value::Decimal(unscaled, scale) => {
                let (mut unscaled, mut scale) = (*unscaled, *scale);
                while scale > 0 && unscaled % 10 == 0 {
                    unscaled /= 10;
                    scale -= 1;
                }
                KeyPart::Number(unscaled, scale)
            }
            Value::Bool(b) => KeyPart::Bool(*b),
            Value::Date(d) => KeyPart::Date(*d),
            Value::Timestamp(t) => KeyPart::Timestamp(*t),
            Value::Float(_) | Value::Double(_) => return Err(()),
        }))
    }

    fn kind(&self) -> u8 {
        match self {
            KeyPart::Str(_) => 0,
            KeyPart::Number(..) => 1,
            KeyPart::Bool(_) => 2,
            KeyPart::Date(_) => 3,
            KeyPart::Timestamp(_) => 4,
        }
    }
}

/// Source rows bucketed by their key columns, and each target row's bucket.
pub(crate) struct MergeJoin {
    /// Per target row, the source rows that may match it, in source order.
    candidates: Vec<Vec<usize>>,
}

impl MergeJoin {
    /// The index for `on` over target rows (relation 0) and source rows (relation 1), or `None`
    /// when the condition has no usable `target.col = source.col` term or a key value cannot be
    /// keyed; the caller then compares every pair.
    pub(crate) fn build(
        on: &Bound,
        target: &[Vec<Value>],
        source: &[Vec<Value>],
    ) -> Option<MergeJoin> {
        let mut pairs = Vec::new();
        equality_terms(on, &mut pairs);
        if pairs.is_empty() {
            return None;
        }
        let mut kinds: Vec<Option<u8>> = vec![None; pairs.len()];
        let mut key = |row: &[Value], side: usize| -> Result<Option<Vec<KeyPart>>, ()> {
            let mut parts = Vec::with_capacity(pairs.len());
            for (pair, kind) in pairs.iter().zip(kinds.iter_mut()) {
                let column = if side == 0 { pair.0 } else { pair.1 };
                let Some(part) = KeyPart::of(row.get(column).ok_or(())?)? else {
                    return Ok(None);
                };
                // `'1' = 1` is true in SQL (through a cast) but not as keys: mixed kinds in one
                // key column are left to the nested loop.
                match kind {
                    Some(k) if *k != part.kind() => return Err(()),
                    _ => *kind = Some(part.kind()),
                }
                parts.push(part);
            }
            Ok(Some(parts))
        };
        let mut buckets: HashMap<Vec<KeyPart>, Vec<usize>> = HashMap::new();
        for (index, row) in source.iter().enumerate() {
            if let Some(parts) = key(row, 1).ok()? {
                buckets.entry(parts).or_default().push(index);
            }
        }
        let mut candidates = Vec::with_capacity(target.len());
        for row in target {
            candidates.push(match key(row, 0).ok()? {
                Some(parts) => buckets.get(&parts).cloned().unwrap_or_default(),
                None => Vec::new(),
            });
        }
        Some(MergeJoin { candidates })
    }

    /// The source rows that may match target row `index`.
    pub(crate) fn candidates(&self, index: usize) -> &[usize] {
        &self.candidates[index]
    }
}

/// The `target.col = source.col` terms of a conjunction, as (target column, source column).
fn equality_terms(on: &Bound, pairs: &mut Vec<(usize, usize)>) {
    match on {
        Bound::And(left, right) => {
            equality_terms(left, pairs);
            equality_terms(right, pairs);
        }
        Bound::Cmp(CmpOp::Eq, left, right) => match (&**left, &**right) {
            (Bound::Col(0, t), Bound::Col(1, s)) | (Bound::Col(1, s), Bound::Col(0, t)) => {
                pairs.push((*t, *s));
            }
            _ => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(target: usize, source: usize) -> Bound {
        Bound::Cmp(
            CmpOp::Eq,
            Box::new(Bound::Col(0, target)),
            Box::new(Bound::Col(1, source)),
        )
    }

    #[test]
    fn buckets_by_every_equality_term_in_source_order() {
        let on = Bound::And(Box::new(eq(0, 1)), Box::new(eq(1, 0)));
        let target = vec![
            vec![Value::Str("a".into()), Value::Int(1)],
            vec![Value::Str("b".into()), Value::Null],
        ];
        let source = vec![
            vec![Value::Decimal(100, 2), Value::Str("a".into())],
            vec![Value::Int(2), Value::Str("a".into())],
            vec![Value::Int(1), Value::Str("a".into())],
        ];
        let join = MergeJoin::build(&on, &target, &source).unwrap();
        // 1.00 and 1 are one key; a NULL key matches nothing.
        assert_eq!(join.candidates(0), &[0, 2]);
        assert!(join.candidates(1).is_empty());
    }

    #[test]
    fn leaves_doubles_mixed_kinds_and_non_equalities_to_the_nested_loop() {
        let target = vec![vec![Value::Str("1".into())]];
        assert!(MergeJoin::build(&eq(0, 0), &target, &[vec![Value::Double(1.0)]]).is_none());
        assert!(MergeJoin::build(&eq(0, 0), &target, &[vec![Value::Int(1)]]).is_none());
        let less = Bound::Cmp(
            CmpOp::Lt,
            Box::new(Bound::Col(0, 0)),
            Box::new(Bound::Col(1, 0)),
        );
        assert!(MergeJoin::build(&less, &target, &[vec![Value::Str("1".into())]]).is_none());
    }
}
