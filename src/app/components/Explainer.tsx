/** A short, static explanation of the number and of how it is measured. */
export function Explainer() {
  return (
    <section className="panel explainer" aria-labelledby="explain-heading">
      <h2 id="explain-heading">What is perplexity?</h2>
      <p>
        A language model reads text one token at a time and, at each step, gives a probability to every possible next token. The
        <strong> negative log-likelihood</strong> (NLL) of a token is −ln p(the token that really came next). Averaged over the
        scored tokens it is the <strong>mean NLL</strong>, and <strong>perplexity = e<sup>mean NLL</sup></strong>.
      </p>
      <p>
        A perplexity of 4 means the model is, on average, as unsure as if it were choosing evenly among 4 tokens. Lower is better; 1
        would be a perfect prediction.
      </p>
      <h3>How it is measured here</h3>
      <ul>
        <li>The whole text is tokenized once, with one BOS (beginning-of-sequence) token in front.</li>
        <li>
          The token stream is cut into non-overlapping <strong>windows</strong> of <em>seqlen</em> tokens; window w holds tokens
          w·seqlen to (w+1)·seqlen − 1.
        </li>
        <li>In each window the first token is context only; each of the other tokens is scored seeing only the tokens before it in the same window.</li>
        <li>Numbers compare only under the same model tokenizer, text, seqlen and windows, so every result shows its protocol line.</li>
      </ul>
    </section>
  );
}
