// Marks inline formulas wider than their paragraph, so that book_html.css can
// give just those a horizontal scroll box (MathJax 3 does not break inline
// math). Runs once MathJax has typeset the page, and again on resize.
(function () {
  "use strict";
  function markWideMath() {
    document.querySelectorAll("mjx-container:not([display='true'])").forEach(function (math) {
      math.classList.remove("book-wide-math");
      var block = math.parentElement;
      while (block && getComputedStyle(block).display.indexOf("inline") === 0) block = block.parentElement;
      if (block && math.getBoundingClientRect().width > block.clientWidth) math.classList.add("book-wide-math");
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(markWideMath);
    } else {
      markWideMath();
    }
  }
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(markWideMath, 150);
  });
  if (document.readyState === "complete") whenTypeset();
  else window.addEventListener("load", whenTypeset);
})();
