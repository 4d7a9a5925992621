defmodule Linx.Tty.WindowSize do
  @moduledoc """
  A terminal's window size, as `struct winsize` holds it (`TIOCGWINSZ`/`TIOCSWINSZ`):
  character rows and columns, and the size in pixels (usually 0, meaning unknown).

      iex> %Linx.Tty.WindowSize{rows: 24, cols: 80, xpixel: 0, ypixel: 0}
      #Linx.Tty.WindowSize<80x24>

  `Linx.Process.pty_set_winsize/2` takes this struct as it is.
  """

  @enforce_keys [:rows, :cols, :xpixel, :ypixel]
  defstruct @enforce_keys

  @type t :: %__MODULE__{
          rows: non_neg_integer(),
          cols: non_neg_integer(),
          xpixel: non_neg_integer(),
          ypixel: non_neg_integer()
        }

  @doc false
  @spec from_tuple({non_neg_integer(), non_neg_integer(), non_neg_integer(), non_neg_integer()}) ::
          t()
  def from_tuple({rows, cols, xpixel, ypixel}),
    do: %__MODULE__{rows: rows, cols: cols, xpixel: xpixel, ypixel: ypixel}

  defimpl Inspect do
    def inspect(%{rows: r, cols: c, xpixel: 0, ypixel: 0}, _opts),
      do: "#Linx.Tty.WindowSize<#{c}x#{r}>"

    def inspect(%{rows: r, cols: c, xpixel: x, ypixel: y}, _opts),
      do: "#Linx.Tty.WindowSize<#{c}x#{r} #{x}x#{y}px>"
  end
end
