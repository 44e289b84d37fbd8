"""Answers to notebook 03: concept_activation_vector, tcav_score, is_significant."""
import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression

from answers import correct, wrong

CAV, TCAV, SIGNIFICANT = "check_concept_activation_vector", "check_tcav_score", "check_is_significant"


# --------------------------------------------------------------------------
# concept_activation_vector(acts_concept, acts_random, seed=0) -> (D,) unit vector
def _xy(acts_concept, acts_random):
    x = np.concatenate([acts_concept.reshape(len(acts_concept), -1), acts_random.reshape(len(acts_random), -1)])
    y = np.r_[np.ones(len(acts_concept)), np.zeros(len(acts_random))]
    return x, y


@correct(CAV)
def cav_reference(acts_concept, acts_random, seed=0):
    w = LogisticRegression(random_state=seed).fit(*_xy(acts_concept, acts_random)).coef_[0]
    return w / np.linalg.norm(w)


@correct(CAV)
def cav_vstack_float64_more_iterations(acts_concept, acts_random, seed=0):
    x = np.vstack([a.reshape(a.shape[0], -1) for a in (acts_concept, acts_random)]).astype(np.float64)
    y = [1] * len(acts_concept) + [0] * len(acts_random)
    w = LogisticRegression(max_iter=1000).fit(x, y).coef_.ravel()
    return w / np.sqrt(np.sum(w ** 2))


@correct(CAV)
def cav_labels_as_strings_list(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    labels = np.where(y == 1, "concept", "random")
    model = LogisticRegression(random_state=seed).fit(x, labels)
    w = -model.coef_[0]                  # classes_ are sorted, ["concept", "random"]: coef_ points to "random"
    return list(w / np.linalg.norm(w))


@wrong(CAV, "points from the concept towards the random images")
def cav_flipped(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression(random_state=seed).fit(x, 1 - y).coef_[0]
    return w / np.linalg.norm(w)


@wrong(CAV, "divide the weights by their length")
def cav_not_unit(acts_concept, acts_random, seed=0):
    return LogisticRegression(random_state=seed).fit(*_xy(acts_concept, acts_random)).coef_[0]


@wrong(CAV, "coef_[0]")
def cav_coef_matrix(acts_concept, acts_random, seed=0):
    w = LogisticRegression(random_state=seed).fit(*_xy(acts_concept, acts_random)).coef_
    return w / np.linalg.norm(w)


@wrong(CAV, "append the intercept")
def cav_with_intercept(acts_concept, acts_random, seed=0):
    model = LogisticRegression(random_state=seed).fit(*_xy(acts_concept, acts_random))
    w = np.r_[model.coef_[0], model.intercept_]
    return w / np.linalg.norm(w)


@wrong(CAV, "flatten the activations")
def cav_not_flattened(acts_concept, acts_random, seed=0):
    x = np.concatenate([acts_concept, acts_random])
    y = np.r_[np.ones(len(acts_concept)), np.zeros(len(acts_random))]
    w = LogisticRegression(random_state=seed).fit(x, y).coef_[0]
    return w / np.linalg.norm(w)


@wrong(CAV, "difference of the mean activations")
def cav_mean_difference(acts_concept, acts_random, seed=0):
    w = acts_concept.reshape(len(acts_concept), -1).mean(0) - acts_random.reshape(len(acts_random), -1).mean(0)
    return w / np.linalg.norm(w)


@wrong(CAV, "standardised the activations")
def cav_standardised(acts_concept, acts_random, seed=0):
    from sklearn.preprocessing import StandardScaler
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression(random_state=seed).fit(StandardScaler().fit_transform(x), y).coef_[0]
    return w / np.linalg.norm(w)


# --------------------------------------------------------------------------
# tcav_score(gradients (N, ...), cav (D,)) -> float
@correct(TCAV)
def tcav_mean(gradients, cav):
    return float(np.mean(gradients.reshape(len(gradients), -1) @ cav > 0))


@correct(TCAV)
def tcav_loop(gradients, cav):
    positive = 0
    for g in gradients:
        if np.dot(g.ravel(), cav) > 0:
            positive += 1
    return positive / len(gradients)


@correct(TCAV)
def tcav_einsum_numpy_scalar(gradients, cav):
    s = np.einsum("nd,d->n", gradients.reshape(len(gradients), -1).astype(np.float64), cav)
    return np.count_nonzero(s > 0) / s.size                    # a numpy float64


@correct(TCAV)
def tcav_tf(gradients, cav):
    import tensorflow as tf
    s = tf.linalg.matvec(tf.reshape(gradients, (len(gradients), -1)), cav)
    return tf.reduce_mean(tf.cast(s > 0, tf.float32))          # a tf.Tensor


@wrong(TCAV, "you counted the images")
def tcav_count(gradients, cav):
    return float(np.sum(gradients.reshape(len(gradients), -1) @ cav > 0))


@wrong(TCAV, "S < 0")
def tcav_negative(gradients, cav):
    return float(np.mean(gradients.reshape(len(gradients), -1) @ cav < 0))


@wrong(TCAV, "count S > 0, not S >= 0")
def tcav_non_negative(gradients, cav):
    return float(np.mean(gradients.reshape(len(gradients), -1) @ cav >= 0))


@wrong(TCAV, "averaged the directional derivatives")
def tcav_mean_derivative(gradients, cav):
    return float(np.mean(gradients.reshape(len(gradients), -1) @ cav))


@wrong(TCAV, "averaged cosine similarities")
def tcav_cosine(gradients, cav):
    g = gradients.reshape(len(gradients), -1)
    return float(np.mean(g @ cav / (np.linalg.norm(g, axis=1) + 1e-12)))


@wrong(TCAV, "one value per image")
def tcav_per_image(gradients, cav):
    return (gradients.reshape(len(gradients), -1) @ cav > 0).astype(float)


@wrong(TCAV, "flatten the gradients")
def tcav_not_flattened(gradients, cav):
    return float(np.mean(gradients @ cav > 0))


# --------------------------------------------------------------------------
# is_significant(concept_scores, random_scores, alpha=0.05, n_tests=1) -> bool
@correct(SIGNIFICANT)
def significant_student(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return bool(stats.ttest_ind(concept_scores, random_scores).pvalue * n_tests < alpha)


@correct(SIGNIFICANT)
def significant_welch_numpy_bool(concept_scores, random_scores, alpha=0.05, n_tests=1):
    _, p = stats.ttest_ind(list(concept_scores), list(random_scores), equal_var=False)
    return p < alpha / n_tests                                 # a numpy bool


@correct(SIGNIFICANT)
def significant_by_hand(concept_scores, random_scores, alpha=0.05, n_tests=1):
    a, b = np.asarray(concept_scores, np.float64), np.asarray(random_scores, np.float64)
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    t = (a.mean() - b.mean()) / np.sqrt(pooled * (1 / len(a) + 1 / len(b)))
    p = 2 * stats.t.sf(abs(t), len(a) + len(b) - 2)
    return min(p * n_tests, 1.0) < alpha


@wrong(SIGNIFICANT, "one-sided test")
def significant_one_sided(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores, alternative="greater").pvalue * n_tests < alpha


@wrong(SIGNIFICANT, "forgot the Bonferroni correction")
def significant_no_bonferroni(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores).pvalue < alpha


@wrong(SIGNIFICANT, "divided the p-value by n_tests")
def significant_divided(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores).pvalue / n_tests < alpha


@wrong(SIGNIFICANT, "instead of a fixed 0.05")
def significant_fixed_alpha(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores).pvalue * n_tests < 0.05


@wrong(SIGNIFICANT, "other way round")
def significant_reversed(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores).pvalue * n_tests > alpha


@wrong(SIGNIFICANT, "against 0.5 (a one-sample t-test)")
def significant_one_sample(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_1samp(concept_scores, 0.5).pvalue * n_tests < alpha


@wrong(SIGNIFICANT, "not the p-value itself")
def significant_returns_p(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return stats.ttest_ind(concept_scores, random_scores).pvalue * n_tests


@wrong(SIGNIFICANT, "a difference of means alone")
def significant_mean_difference(concept_scores, random_scores, alpha=0.05, n_tests=1):
    return abs(np.mean(concept_scores) - np.mean(random_scores)) > 0.1
