// Marks inline formulas wider than their paragraph, so that book_html.css can
// give just those a horizontal scroll box (MathJax 3 does not break inline
// math). Runs once MathJax has typeset the page (MathJax loads asynchronously,
// so wait for it to exist), and again on resize. Sets
// <html data-book-wide-math="done"> when the page has been checked.
(function () {
  "use strict";
  function markWideMath() {
    document.querySelectorAll("mjx-container:not([display='true'])").forEach(function (math) {
      math.classList.remove("book-wide-math");
      var block = math.parentElement;
      while (block && getComputedStyle(block).display.indexOf("inline") === 0) block = block.parentElement;
      if (block && math.getBoundingClientRect().width > block.clientWidth) math.classList.add("book-wide-math");
    });
    document.documentElement.setAttribute("data-book-wide-math", "done");
  }
  function whenTypeset(triesLeft) {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(markWideMath);
    } else if (triesLeft > 0 && document.querySelector("script[src*='mathjax' i], script[src*='tex-mml' i]")) {
      setTimeout(function () { whenTypeset(triesLeft - 1); }, 100);
    } else {
      markWideMath();
    }
  }
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(markWideMath, 150);
  });
  whenTypeset(100);
})();
