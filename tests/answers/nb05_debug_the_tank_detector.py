"""Answers to notebook 05: accuracy_by_group, energy_in_region, swap_sky."""
import numpy as np

from answers import correct, wrong

ACCURACY, ENERGY, SWAP = "check_accuracy_by_group", "check_energy_in_region", "check_swap_sky"


# --------------------------------------------------------------------------
# accuracy_by_group(model, data, factor) -> (V, C), NaN for empty groups
def _table(model, data, factor, score, empty=np.nan, rows=None):
    predicted = np.asarray(model(data.images)).argmax(axis=1)
    values = np.asarray(data.factors[factor])
    rows = np.unique(values) if rows is None else rows
    table = np.full((len(rows), len(data.class_names)), empty)
    for i, v in enumerate(rows):
        for c in range(len(data.class_names)):
            group = (values == v) & (data.labels == c)
            if group.any():
                table[i, c] = score(predicted, group, c)
    return table


@correct(ACCURACY)
def accuracy_loops(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] == c))


@correct(ACCURACY)
def accuracy_predict_list_of_lists(model, data, factor):
    predicted = model.predict(data.images, verbose=0).argmax(axis=1)
    values = np.asarray(data.factors[factor])
    table = []
    for v in sorted(set(values.tolist())):
        row = []
        for c in range(len(data.class_names)):
            hits = [predicted[i] == c for i in range(len(values)) if values[i] == v and data.labels[i] == c]
            row.append(sum(hits) / len(hits) if hits else np.nan)
        table.append(row)
    return table                                                      # a list of lists


@correct(ACCURACY)
def accuracy_vectorised(model, data, factor):
    predicted = np.asarray(model(data.images)).argmax(axis=1)
    values, index = np.unique(data.factors[factor], return_inverse=True)
    classes = len(data.class_names)
    cell = index * classes + data.labels
    right = np.bincount(cell, weights=predicted == data.labels, minlength=len(values) * classes)
    count = np.bincount(cell, minlength=len(values) * classes)
    with np.errstate(all="ignore"):
        return (right / count).reshape(len(values), classes)


@correct(ACCURACY)
def accuracy_pandas(model, data, factor):
    import pandas as pd
    frame = pd.DataFrame({"value": np.asarray(data.factors[factor]), "label": data.labels,
                          "right": np.asarray(model(data.images)).argmax(axis=1) == data.labels})
    table = frame.groupby(["value", "label"])["right"].mean().unstack()
    return table.reindex(columns=range(len(data.class_names))).to_numpy(dtype=float)


@wrong(ACCURACY, "your table is transposed")
def accuracy_transposed(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] == c)).T


@wrong(ACCURACY, "error rate")
def accuracy_error_rate(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] != c))


@wrong(ACCURACY, "counted the correct predictions")
def accuracy_counts(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.sum(p[group] == c))


@wrong(ACCURACY, "how often the model predicts class 1")
def accuracy_predicts_one(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] == 1))


@wrong(ACCURACY, "number of all images")
def accuracy_divided_by_all(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.sum(p[group] == c) / len(p))


@wrong(ACCURACY, "return np.nan there, not 0")
def accuracy_zero_for_empty(model, data, factor):
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] == c), empty=0.0)


@wrong(ACCURACY, "one row for every number")
def accuracy_range_rows(model, data, factor):
    rows = np.arange(np.max(data.factors[factor]) + 1)
    return _table(model, data, factor, lambda p, group, c: np.mean(p[group] == c), rows=rows)


@wrong(ACCURACY, "one accuracy per factor value")
def accuracy_without_classes(model, data, factor):
    predicted = np.asarray(model(data.images)).argmax(axis=1)
    values = np.asarray(data.factors[factor])
    return np.array([np.mean(predicted[values == v] == data.labels[values == v]) for v in np.unique(values)])


# --------------------------------------------------------------------------
# energy_in_region(maps (N, H, W), region_masks (N, H, W)) -> (N,), NaN without positive attribution
@correct(ENERGY)
def energy_guarded(maps, region_masks):
    positive = np.maximum(maps, 0)
    total = positive.sum(axis=(1, 2))
    inside = (positive * region_masks).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


@correct(ENERGY)
def energy_loop(maps, region_masks):
    shares = []
    for m, r in zip(maps, region_masks):
        p = np.clip(m, 0, None)
        shares.append(p[r].sum() / p.sum() if p.sum() > 0 else float("nan"))
    return shares                                                     # a list


@correct(ENERGY)
def energy_unguarded_division(maps, region_masks):
    positive = np.maximum(maps.astype(np.float64), 0)
    with np.errstate(invalid="ignore"):
        return (positive * region_masks).sum(axis=(1, 2)) / positive.sum(axis=(1, 2))   # 0/0 = NaN


@correct(ENERGY)
def energy_tf(maps, region_masks):
    import tensorflow as tf
    positive = tf.nn.relu(tf.constant(maps, tf.float64))
    inside = tf.reduce_sum(positive * tf.cast(region_masks, tf.float64), axis=(1, 2))
    return inside / tf.reduce_sum(positive, axis=(1, 2))            # a tf.Tensor, NaN for 0/0


@wrong(ENERGY, "only positive attribution counts")
def energy_no_relu(maps, region_masks):
    with np.errstate(all="ignore"):
        return (maps * region_masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


@wrong(ENERGY, "you used np.abs")
def energy_abs(maps, region_masks):
    a = np.abs(maps)
    return (a * region_masks).sum(axis=(1, 2)) / a.sum(axis=(1, 2))


@wrong(ENERGY, "of the whole batch")
def energy_batch_total(maps, region_masks):
    positive = np.maximum(maps, 0)
    return (positive * region_masks).sum(axis=(1, 2)) / positive.sum()


@wrong(ENERGY, "you returned the attribution inside the region")
def energy_not_divided(maps, region_masks):
    return (np.maximum(maps, 0) * region_masks).sum(axis=(1, 2))


@wrong(ENERGY, "share of the *area*")
def energy_area(maps, region_masks):
    return region_masks.mean(axis=(1, 2))


@wrong(ENERGY, "mean attribution per pixel of the region")
def energy_per_region_pixel(maps, region_masks):
    with np.errstate(all="ignore"):
        return (np.maximum(maps, 0) * region_masks).sum(axis=(1, 2)) / region_masks.sum(axis=(1, 2))


@wrong(ENERGY, "share *outside* the region")
def energy_outside(maps, region_masks):
    positive = np.maximum(maps, 0)
    with np.errstate(all="ignore"):
        return (positive * ~region_masks).sum(axis=(1, 2)) / positive.sum(axis=(1, 2))


@wrong(ENERGY, "return np.nan for it, not 0")
def energy_zero_for_empty(maps, region_masks):
    positive = np.maximum(maps, 0)
    total = positive.sum(axis=(1, 2))
    return np.divide((positive * region_masks).sum(axis=(1, 2)), total, out=np.zeros_like(total), where=total > 0)


# --------------------------------------------------------------------------
# swap_sky(images, donors, horizons) -> (N, H, W, C)
def _sky(height, horizons, rule=lambda r, h, n: (r + 0.5) / n <= h):
    return rule(np.arange(height)[None, :], np.asarray(horizons)[:, None], height)   # (N, H)


@correct(SWAP)
def swap_where(images, donors, horizons):
    return np.where(_sky(images.shape[1], horizons)[:, :, None, None], donors, images)


@correct(SWAP)
def swap_loop_copy(images, donors, horizons):
    out = images.copy()
    height = images.shape[1]
    for i, h in enumerate(horizons):
        for r in range(height):
            if (r + 0.5) / height <= h:
                out[i, r] = donors[i, r]
    return out


@correct(SWAP)
def swap_float64_mask(images, donors, horizons):
    sky = _sky(images.shape[1], horizons).astype(np.float64)[:, :, None, None]
    return sky * donors + (1 - sky) * images


@correct(SWAP)
def swap_tf(images, donors, horizons):
    import tensorflow as tf
    return tf.where(_sky(images.shape[1], horizons)[:, :, None, None], donors, images)   # a tf.Tensor


@wrong(SWAP, "roles swapped")
def swap_roles(images, donors, horizons):
    return np.where(_sky(images.shape[1], horizons)[:, :, None, None], images, donors)


@wrong(SWAP, "rows are right except at the boundary")
def swap_row_top(images, donors, horizons):
    sky = _sky(images.shape[1], horizons, lambda r, h, n: r / n <= h)
    return np.where(sky[:, :, None, None], donors, images)


@wrong(SWAP, "rows are right except at the boundary")
def swap_int_rows(images, donors, horizons):
    out = images.copy()
    for i, h in enumerate(horizons):
        rows = int(h * images.shape[1])
        out[i, :rows] = donors[i, :rows]
    return out


@wrong(SWAP, "column positions")
def swap_columns(images, donors, horizons):
    sky = _sky(images.shape[2], horizons)
    return np.where(sky[:, None, :, None], donors, images)


@wrong(SWAP, "not pixel rows")
def swap_horizon_as_row(images, donors, horizons):
    sky = _sky(images.shape[1], horizons, lambda r, h, n: r <= h)
    return np.where(sky[:, :, None, None], donors, images)


@wrong(SWAP, "donors unchanged")
def swap_donors(images, donors, horizons):
    return donors.copy()


@wrong(SWAP, "changed its input")
def swap_in_place(images, donors, horizons):
    sky = _sky(images.shape[1], horizons)
    images[sky] = donors[sky]
    return images
